import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFileStoreContract } from '../file-store-contract.js';
import { DirectoryFileStore } from './file-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'iis-files-'));
  dirs.push(dir);
  return dir;
}

runFileStoreContract('directory', async () => new DirectoryFileStore(join(await freshDir(), 'bulk')));

describe('DirectoryFileStore', () => {
  it('init removes temporaries a crash left behind, and remove drops emptied directories', async () => {
    const root = join(await freshDir(), 'bulk');
    const files = new DirectoryFileStore(root);
    await files.init();
    const sink = await files.create('job1/a.ndjson');
    sink.write('partial');
    // simulate a crash: the temporary stays on disk
    const before = await readdir(join(root, 'job1'));
    expect(before.some((n) => n.startsWith('.~'))).toBe(true);
    await writeFile(join(root, 'job1', 'b.ndjson'), 'done\n');
    await new DirectoryFileStore(root).init();
    expect(await readdir(join(root, 'job1'))).toEqual(['b.ndjson']);
    await files.remove('job1/b.ndjson');
    expect(await readdir(root)).toEqual([]);
    sink.destroy();
  });
});
