// Files in a directory (DATA_DIR/bulk with the embedded store). A file is written to a hidden
// temporary name, fsynced, renamed into place and the directory fsynced, so a crash leaves either
// the complete file or nothing visible; leftover temporaries are removed at init.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { checkFileName, FileNotFoundError, type FileInfo, type FileStore, type OpenedFile } from '../files.js';

const TMP_PREFIX = '.~';

export class DirectoryFileStore implements FileStore {
  readonly kind = 'directory' as const;

  constructor(private readonly root: string) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await this.walk(this.root, '', 0, async (path, rel) => {
      if (baseName(rel).startsWith(TMP_PREFIX)) await unlink(path).catch(() => undefined);
    });
  }

  async close(): Promise<void> {}

  async create(name: string): Promise<Writable> {
    const final = join(this.root, checkFileName(name));
    const dir = dirname(final);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${TMP_PREFIX}${baseName(name)}.${randomBytes(6).toString('hex')}`);
    return new FileSink(await open(tmp, 'w'), tmp, final, dir);
  }

  async open(name: string): Promise<OpenedFile> {
    let fh: FileHandle;
    try {
      fh = await open(join(this.root, checkFileName(name)), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError(name);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      return { name, size, stream: fh.createReadStream({ highWaterMark: 256 * 1024 }) };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  async remove(name: string): Promise<void> {
    const path = join(this.root, checkFileName(name));
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Drop emptied directories below the root (a job's directory once its last file is gone).
    for (let dir = dirname(path); dir.startsWith(this.root) && dir !== this.root; dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  async list(prefix: string): Promise<FileInfo[]> {
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? checkFileName(prefix.slice(0, slash)) : '';
    const out: FileInfo[] = [];
    await this.walk(join(this.root, base), base, base ? base.split('/').length : 0, async (path, rel) => {
      if (baseName(rel).startsWith(TMP_PREFIX) || !rel.startsWith(prefix)) return;
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile()) out.push({ name: rel, size: s.size });
    });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async walk(dir: string, rel: string, depth: number, visit: (path: string, rel: string) => Promise<void>): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (depth < 4) await this.walk(join(dir, e.name), childRel, depth + 1, visit);
      } else if (e.isFile()) {
        await visit(join(dir, e.name), childRel);
      }
    }
  }
}

function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Writes to the temporary file; on finish fsyncs, renames into place and fsyncs the directory. */
class FileSink extends Writable {
  private done = false;

  constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly final: string,
    private readonly dir: string
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    writeAll(this.fh, chunk).then(() => callback(), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    writeAll(this.fh, Buffer.concat(chunks.map((c) => c.chunk))).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.final);
      await fsyncDir(this.dir);
      this.done = true;
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.done) {
      callback(error);
      return;
    }
    this.fh
      .close()
      .catch(() => undefined)
      .then(() => unlink(this.tmp).catch(() => undefined))
      .then(() => callback(error));
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** Makes a rename or unlink in the directory durable. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some platforms (Windows) cannot open or fsync directories; everywhere else it must work.
    if (process.platform !== 'win32') throw err;
  } finally {
    await fh?.close();
  }
}
