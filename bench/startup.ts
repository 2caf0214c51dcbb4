// Time from `npm start` to the first /readyz 200 on a data directory, and the server's memory once
// ready (issue 11: < 3 s and RSS < 400 MB with 1.1 M resources):
//   npm run bench:startup -- --data-dir DIR [--runs 3] [--command "npm start"]
// The data directory is used as it is (the server locks it: stop any server on it first). Each run
// starts the command with PORT on a free port, polls /readyz every 20 ms, reads the server's
// RSS split into anonymous memory and mapped file pages (/proc/<pid>/status), then stops it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    runs: { type: 'string', default: '3' },
    command: { type: 'string', default: 'npm start' },
  },
});
const dataDir = path.resolve(values['data-dir'] ?? process.env.DATA_DIR ?? './data');
const runs = Math.max(1, Number(values.runs) || 1);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The node process serving (npm start runs it as a child of npm, of sh): the deepest descendant. */
function serverPid(root: number): number {
  let pid = root;
  for (;;) {
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return pid;
    }
    if (children.length === 0) return pid;
    pid = children[children.length - 1];
  }
}

function memoryOf(pid: number): { rssMb: number; anonMb: number; fileMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: kb('RssFile') / 1024 };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-(child.pid as number), 'SIGTERM');
  const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function once(): Promise<{ ms: number; cpuMs: number; mem: ReturnType<typeof memoryOf> }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(values.command as string, {
    shell: true,
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  try {
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('server did not become ready in 5 minutes');
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - started;
    const pid = serverPid(child.pid as number);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime of the server process
    return { ms, cpuMs: ticks * 10, mem: memoryOf(pid) };
  } finally {
    await stop(child);
  }
}

console.log(`startup: "${values.command}" on ${dataDir}, ${runs} run(s)`);
for (let i = 0; i < runs; i++) {
  const r = await once();
  console.log(
    `  run ${i + 1}: /readyz 200 after ${Math.round(r.ms)} ms (server CPU ${r.cpuMs} ms); RSS ${r.mem.rssMb.toFixed(0)} MB = ` +
      `${r.mem.anonMb.toFixed(0)} MB anonymous + ${r.mem.fileMb.toFixed(0)} MB file pages`
  );
}
