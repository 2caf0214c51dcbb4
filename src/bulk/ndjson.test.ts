import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryFileStore } from '../store/embedded/file-store.js';
import { NdjsonWriter } from './ndjson.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function files(): Promise<DirectoryFileStore> {
  const dir = await mkdtemp(join(tmpdir(), 'iis-ndjson-'));
  dirs.push(dir);
  const f = new DirectoryFileStore(dir);
  await f.init();
  return f;
}

async function read(store: DirectoryFileStore, name: string, gzip: boolean): Promise<string> {
  const { stream } = await store.open(name);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  return (gzip ? gunzipSync(buf) : buf).toString('utf8');
}

describe('NdjsonWriter', () => {
  it('parts: takePart closes every open file and hands out only the files closed since the last part; numbering can start later', async () => {
    const store = await files();
    const w = new NdjsonWriter({ files: store, prefix: 'job/Patient', compression: 'none', maxLines: 3, maxBytes: 1e9, chunkBytes: 10, firstNumber: 4 });
    let ready = -1;
    for (let i = 0; i < 4; i++) {
      if (w.push(JSON.stringify({ i }))) await w.flush();
      if (ready < 0 && w.partReady) ready = i;
    }
    expect(ready).toBe(2); // the first file closed at its third line
    const first = await w.takePart();
    expect(first.map((f) => [f.name, f.count])).toEqual([
      ['job/Patient-4.ndjson', 3],
      ['job/Patient-5.ndjson', 1],
    ]);
    expect(w.partReady).toBe(false);
    if (w.push(JSON.stringify({ i: 4 }))) await w.flush();
    const second = await w.takePart();
    expect(second.map((f) => [f.name, f.count])).toEqual([['job/Patient-6.ndjson', 1]]);
    expect(await w.takePart()).toEqual([]);
    expect(await read(store, 'job/Patient-5.ndjson', false)).toBe('{"i":3}\n');
  });

  it('keepTogether: a block never straddles two files; a block over the limit gets its own file', async () => {
    const store = await files();
    const w = new NdjsonWriter({ files: store, prefix: 'job/patients', compression: 'none', maxLines: 4, maxBytes: 1e9 });
    for (const size of [2, 2, 3, 6, 1]) {
      await w.keepTogether(size);
      for (let i = 0; i < size; i++) w.push(JSON.stringify({ size, i }));
      await w.flush();
    }
    const written = await w.close();
    expect(written.map((f) => f.count)).toEqual([4, 3, 6, 1]);
  });


  it('rotates files at the line limit, exactly', async () => {
    const store = await files();
    const w = new NdjsonWriter({ files: store, prefix: 'job/Patient', compression: 'none', maxLines: 3, maxBytes: 1e9, chunkBytes: 10 });
    for (let i = 0; i < 8; i++) if (w.push(JSON.stringify({ i }))) await w.flush();
    const written = await w.close();
    expect(written.map((f) => [f.name, f.count])).toEqual([
      ['job/Patient-1.ndjson', 3],
      ['job/Patient-2.ndjson', 3],
      ['job/Patient-3.ndjson', 2],
    ]);
    expect(await read(store, 'job/Patient-3.ndjson', false)).toBe('{"i":6}\n{"i":7}\n');
  });

  it('writes byte lines (stored JSON) as they are, mixed with text lines, counting bytes', async () => {
    const store = await files();
    const w = new NdjsonWriter({ files: store, prefix: 'job/Mixed', compression: 'none', maxLines: 1e9, maxBytes: 1e9, chunkBytes: 40 });
    const lines = Array.from({ length: 9 }, (_, i) => JSON.stringify({ i, text: i % 3 ? 'naïve ✓ 😀' : 'plain' }));
    for (const [i, l] of lines.entries()) if (w.push(i % 2 ? Buffer.from(l, 'utf8') : l)) await w.flush();
    const [file] = await w.close();
    const expected = `${lines.join('\n')}\n`;
    expect(await read(store, file.name, false)).toBe(expected);
    expect([file.count, file.bytes]).toEqual([9, Buffer.byteLength(expected)]);
  });

  it('gzip over several lanes: every line exactly once, counts and bytes right, nothing written for no lines', async () => {
    const store = await files();
    const w = new NdjsonWriter({ files: store, prefix: 'job/Immunization', compression: 'gzip', maxLines: 1e9, maxBytes: 1e9, chunkBytes: 64 * 1024, lanes: 3 });
    const line = (i: number) => JSON.stringify({ resourceType: 'Immunization', id: `i${i}`, pad: 'x'.repeat(200 + (i % 50)), text: 'naïve ✓' });
    const n = 60_000;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const l = line(i);
      bytes += Buffer.byteLength(l) + 1;
      if (w.push(l)) await w.flush();
    }
    const written = await w.close();
    expect(written.length).toBe(3);
    expect(written.reduce((s, f) => s + f.count, 0)).toBe(n);
    expect(written.reduce((s, f) => s + f.bytes, 0)).toBe(bytes);
    const seen = new Set<string>();
    for (const f of written) {
      const lines = (await read(store, f.name, true)).split('\n').filter(Boolean);
      expect(lines.length).toBe(f.count);
      for (const l of lines) seen.add(JSON.parse(l).id);
    }
    expect(seen.size).toBe(n);
    const empty = new NdjsonWriter({ files: store, prefix: 'job/Consent', compression: 'gzip', maxLines: 10, maxBytes: 1e9 });
    expect(await empty.close()).toEqual([]);
    expect(await store.list('job/Consent')).toEqual([]);
  });

  it('abort discards the open file and reports the closed ones', async () => {
    const store = await files();
    const w = new NdjsonWriter({ files: store, prefix: 'job/Patient', compression: 'gzip', maxLines: 2, maxBytes: 1e9, chunkBytes: 1 });
    for (let i = 0; i < 5; i++) if (w.push(`{"i":${i}}`)) await w.flush();
    const closed = await w.abort();
    expect(closed.map((f) => f.name)).toEqual(['job/Patient-1.ndjson', 'job/Patient-2.ndjson']);
    expect((await store.list('job/')).map((f) => f.name)).toEqual(['job/Patient-1.ndjson', 'job/Patient-2.ndjson']);
  });
});
