// The behaviour both file stores (directory, GridFS) must prove; each store's test file calls it.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileNotFoundError, type FileStore } from './files.js';

async function readAll(store: FileStore, name: string): Promise<Buffer> {
  const { stream } = await store.open(name);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function writeFile(store: FileStore, name: string, data: Buffer | Buffer[]): Promise<void> {
  await pipeline(Readable.from(Array.isArray(data) ? data : [data]), await store.create(name));
}

export function runFileStoreContract(name: string, makeStore: () => Promise<FileStore>): void {
  describe(`file store contract: ${name}`, () => {
    let store: FileStore;
    const job = `t${randomUUID().replace(/-/g, '')}`;

    beforeAll(async () => {
      store = await makeStore();
      await store.init();
    });
    afterAll(async () => {
      for (const f of (await store?.list(`${job}/`)) ?? []) await store.remove(f.name);
      await store?.close();
    });

    it('round-trips small and multi-chunk files byte for byte, with their size', async () => {
      const small = Buffer.from('{"a":1}\n');
      const big = Buffer.alloc(3 * 1024 * 1024 + 123);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      await writeFile(store, `${job}/small.ndjson`, small);
      await writeFile(store, `${job}/big.ndjson`, [big.subarray(0, 1000), big.subarray(1000)]);
      expect((await readAll(store, `${job}/small.ndjson`)).equals(small)).toBe(true);
      expect((await readAll(store, `${job}/big.ndjson`)).equals(big)).toBe(true);
      expect((await store.open(`${job}/big.ndjson`)).size).toBe(big.length);
      const listed = await store.list(`${job}/`);
      expect(listed).toEqual([
        { name: `${job}/big.ndjson`, size: big.length },
        { name: `${job}/small.ndjson`, size: small.length },
      ]);
    });

    it('a file is invisible until its stream finished; a destroyed stream leaves nothing', async () => {
      const sink = await store.create(`${job}/partial.ndjson`);
      await new Promise<void>((resolve, reject) => sink.write(Buffer.alloc(2 * 1024 * 1024, 1), (e) => (e ? reject(e) : resolve())));
      expect((await store.list(`${job}/partial`)).length).toBe(0);
      await expect(store.open(`${job}/partial.ndjson`)).rejects.toBeInstanceOf(FileNotFoundError);
      sink.destroy();
      await new Promise((r) => setTimeout(r, 100));
      expect((await store.list(`${job}/partial`)).length).toBe(0);
    });

    it('create replaces a file of the same name; remove deletes it and is idempotent', async () => {
      await writeFile(store, `${job}/r.ndjson`, Buffer.from('first\n'));
      await writeFile(store, `${job}/r.ndjson`, Buffer.from('second\n'));
      expect((await readAll(store, `${job}/r.ndjson`)).toString()).toBe('second\n');
      await store.remove(`${job}/r.ndjson`);
      await store.remove(`${job}/r.ndjson`);
      await expect(store.open(`${job}/r.ndjson`)).rejects.toBeInstanceOf(FileNotFoundError);
      await expect(store.open(`${job}/never.ndjson`)).rejects.toBeInstanceOf(FileNotFoundError);
    });

    it('list filters by prefix; unsafe names are refused', async () => {
      const other = `${job}x`;
      await writeFile(store, `${other}/a.ndjson`, Buffer.from('x\n'));
      expect((await store.list(`${job}/`)).every((f) => f.name.startsWith(`${job}/`))).toBe(true);
      expect((await store.list(`${other}/`)).map((f) => f.name)).toEqual([`${other}/a.ndjson`]);
      await store.remove(`${other}/a.ndjson`);
      expect(await store.list(`${other}/`)).toEqual([]);
      for (const bad of ['../x', '/abs', 'a/../../b', '.hidden', 'a//b', '']) {
        await expect(store.create(bad)).rejects.toThrow();
      }
    });
  });
}
