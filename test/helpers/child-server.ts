// A server in a child process, for crash (SIGKILL) and shutdown (SIGTERM) tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, TEST_SECRET, testMongoUrl } from './server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildServer {
  child: ChildProcess;
  baseUrl: string;
  exited: Promise<number | null>;
  output: () => string;
}

/**
 * The environment of a child server on a store of its own: a new temporary DATA_DIR (pushed on
 * `dirs` for the caller to remove), and on MongoDB a new database named after `label`.
 */
export async function childStoreEnv(kind: 'embedded' | 'mongodb', label: string, dirs: string[]): Promise<Record<string, string>> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `iis-${label}-`));
  dirs.push(dataDir);
  if (kind === 'embedded') return { DATA_DIR: dataDir };
  const url = new URL(testMongoUrl() as string);
  url.pathname = `/iis_${label.replace(/-/g, '_')}_${randomUUID().slice(0, 8)}`;
  return { DATA_DIR: dataDir, MONGODB_URL: url.toString() };
}

export async function startChildServer(env: Record<string, string>): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return { child, baseUrl: `http://127.0.0.1:${port}/fhir`, exited, output: () => output };
}
