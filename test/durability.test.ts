// Every acknowledged write survives kill -9 (embedded store; MongoDB tier when TEST_MONGODB_URL is
// set), and SIGTERM finishes in-flight work, flushes and exits 0.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@medplum/fhirtypes';
import jwt from 'jsonwebtoken';
import { afterAll, describe, expect, it } from 'vitest';
import { childStoreEnv, startChildServer } from './helpers/child-server.js';
import { patient, TEST_SECRET, testMongoUrl } from './helpers/server.js';

const token = jwt.sign({ scope: 'system/*.cruds' }, TEST_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const storeEnv = (kind: 'embedded' | 'mongodb') => childStoreEnv(kind, 'durability', dirs);

const kinds = (['embedded', 'mongodb'] as const).filter((k) => k === 'embedded' || testMongoUrl());
if (!testMongoUrl()) console.warn('[mongodb tier] durability on MongoDB skipped: TEST_MONGODB_URL is not set');

describe.each(kinds)('durability on the %s store', (kind) => {
  it('every acknowledged create survives SIGKILL', async () => {
    const env = await storeEnv(kind);
    const first = await startChildServer(env);
    const acknowledged = new Map<string, unknown>();
    let stop = false;
    const writer = async () => {
      while (!stop) {
        try {
          const res = await fetch(`${first.baseUrl}/Patient`, { method: 'POST', headers: auth, body: JSON.stringify(patient()) });
          if (res.status === 201) {
            const body = (await res.json()) as { id: string };
            acknowledged.set(body.id, body);
          }
        } catch {
          return; // the server is gone
        }
      }
    };
    const writers = Array.from({ length: 8 }, writer);
    // FerretDB (SQLite) scans a collection for every query, so the MongoDB tier stops sooner.
    const target = kind === 'embedded' ? 300 : 60;
    while (acknowledged.size < target) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    stop = true;
    await first.exited;
    await Promise.all(writers);

    const second = await startChildServer(env);
    try {
      for (const [id, body] of acknowledged) {
        const res = await fetch(`${second.baseUrl}/Patient/${id}`, { headers: auth });
        expect(res.status, `Patient/${id}`).toBe(200);
        expect(await res.json()).toEqual(body);
      }
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 240_000);

  it('every acknowledged read has its AuditEvent after SIGKILL right after the last answer', async () => {
    // A burst of reads, then kill -9 at once: the events still queued (batched off the response
    // path) were lost — 29 of 2,000 on the embedded store — until the journal (src/audit/audit-journal.ts).
    const env = await storeEnv(kind);
    const first = await startChildServer(env);
    const created = await fetch(`${first.baseUrl}/Patient`, { method: 'POST', headers: auth, body: JSON.stringify(patient()) });
    const { id } = (await created.json()) as { id: string };
    const reads = kind === 'embedded' ? 600 : 150;
    const acknowledged: string[] = [];
    let next = 0;
    const reader = async () => {
      while (next < reads) {
        const requestId = `durable-read-${next++}`;
        const res = await fetch(`${first.baseUrl}/Patient/${id}`, { headers: { ...auth, 'x-request-id': requestId } });
        await res.text();
        if (res.status === 200) acknowledged.push(requestId);
      }
    };
    await Promise.all(Array.from({ length: 16 }, reader));
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startChildServer(env);
    try {
      const audited = new Set<string>();
      const deadline = Date.now() + 60_000;
      while (audited.size < acknowledged.length && Date.now() < deadline) {
        let url: string | undefined = `${second.baseUrl}/AuditEvent?entity=Patient/${id}&_count=1000`;
        while (url) {
          const page = (await (await fetch(url, { headers: auth })).json()) as { entry?: Array<{ resource: AuditEvent }>; link?: Array<{ relation: string; url: string }> };
          for (const e of page.entry ?? []) for (const x of e.resource.entity ?? []) if (x.what?.identifier?.value?.startsWith('durable-read-')) audited.add(x.what.identifier.value);
          url = page.link?.find((l) => l.relation === 'next')?.url;
        }
        if (audited.size < acknowledged.length) await new Promise((r) => setTimeout(r, 200));
      }
      expect(acknowledged.filter((requestId) => !audited.has(requestId))).toEqual([]);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 240_000);

  it('SIGTERM answers requests in flight, flushes and exits 0', async () => {
    const env = await storeEnv(kind);
    const server = await startChildServer(env);
    const inFlight = Array.from({ length: 20 }, () =>
      fetch(`${server.baseUrl}/Patient`, { method: 'POST', headers: auth, body: JSON.stringify(patient()) })
    );
    await new Promise((r) => setTimeout(r, 5));
    server.child.kill('SIGTERM');
    const results = await Promise.allSettled(inFlight);
    expect(await server.exited).toBe(0);
    const ids: string[] = [];
    for (const r of results) {
      if (r.status === 'fulfilled' && r.value.status === 201) ids.push(((await r.value.json()) as { id: string }).id);
    }
    const again = await startChildServer(env);
    try {
      for (const id of ids) expect((await fetch(`${again.baseUrl}/Patient/${id}`, { headers: auth })).status).toBe(200);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  }, 120_000);
});

describe('a DATA_DIR the server cannot use', () => {
  // Works as root too (unlike a chmod'ed directory): no one can create a directory below a file.
  it('stops the server at once with one sentence naming DATA_DIR and why, exit 1', async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'iis-datadir-'));
    dirs.push(parent);
    await writeFile(path.join(parent, 'a-file'), 'not a directory');
    const dataDir = path.join(parent, 'a-file', 'data');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: fileURLToPath(new URL('../', import.meta.url)),
      env: { ...process.env, PORT: '0', DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      `DATA_DIR ${dataDir} cannot be used: a part of its path is a file, not a directory (ENOTDIR). The server keeps its store, keys and export files there: set DATA_DIR to a writable directory.`
    );
  }, 60_000);
});
