// Files in GridFS (bucket `bulk`: collections bulk.files and bulk.chunks) in the store's database,
// so every server node can serve what any node wrote. The file name is also the GridFS _id, so a
// rewrite or a retry after a crash replaces chunks left by an interrupted upload. GridFS inserts
// the files document after the last chunk: a file is visible only once complete. Works on
// FerretDB 1.x too (plain inserts, finds and deletes).
import { GridFSBucket, MongoClient, type Collection, type Db } from 'mongodb';
import type { Writable } from 'node:stream';
import { checkFileName, FileNotFoundError, type FileInfo, type FileStore, type OpenedFile } from '../files.js';
import { StoreUnavailableError } from '../store.js';
import { ClientRecovery } from './client-recovery.js';
import { databaseNameFromUrl, isConnectionError } from './mongo-store.js';

export interface GridFsFileStoreOptions {
  url: string;
  /** Database name overriding the URL path (tests). */
  dbName?: string;
  bucketName?: string;
  /** Default 1 MiB: fewer, larger chunk documents than GridFS's 255 KiB. */
  chunkSizeBytes?: number;
  serverSelectionTimeoutMS?: number;
  /** Time between checks of a client whose driver may be stuck, while operations fail (10 s). */
  recoveryCheckMs?: number;
}

interface FilesDoc {
  _id: string;
  length: number;
  filename: string;
}

export class GridFsFileStore implements FileStore {
  readonly kind = 'gridfs' as const;
  private readonly client: MongoClient;
  private readonly db: Db;
  private readonly bucket: GridFSBucket;
  private readonly bucketName: string;
  private readonly chunkSizeBytes: number;
  private closed = false;
  private readonly recovery: ClientRecovery;

  constructor(options: GridFsFileStoreOptions) {
    this.client = new MongoClient(options.url, { serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5000 });
    const dbName = options.dbName ?? databaseNameFromUrl(options.url);
    this.db = this.client.db(dbName);
    // Its own client, so its own watch for a driver stuck after an outage (src/store/mongo/client-recovery.ts).
    const pingTimeoutMs = 2_000;
    this.recovery = new ClientRecovery({
      client: this.client,
      url: options.url,
      dbName,
      pingTimeoutMs,
      checkMs: options.recoveryCheckMs ?? 10_000,
      ping: () => this.db.command({ ping: 1 }, { timeoutMS: pingTimeoutMs }).then(() => undefined),
    });
    this.bucketName = options.bucketName ?? 'bulk';
    this.bucket = new GridFSBucket(this.db, { bucketName: this.bucketName });
    this.chunkSizeBytes = options.chunkSizeBytes ?? 1024 * 1024;
  }

  async init(): Promise<void> {
    await this.guard('init', () => this.client.connect().then(() => undefined));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.recovery.stop();
    await this.client.close();
  }

  async create(name: string): Promise<Writable> {
    checkFileName(name);
    await this.remove(name);
    const upload = this.bucket.openUploadStreamWithId(name as never, name, { chunkSizeBytes: this.chunkSizeBytes });
    let finished = false;
    upload.once('finish', () => (finished = true));
    upload.once('close', () => {
      // Destroyed before the files document was written: drop the chunks it left.
      if (!finished) void this.chunks().deleteMany({ files_id: name }).catch(() => undefined);
    });
    return upload;
  }

  async open(name: string): Promise<OpenedFile> {
    checkFileName(name);
    const doc = await this.guard('open', () => this.files().findOne({ _id: name }));
    if (!doc) throw new FileNotFoundError(name);
    return { name, size: doc.length, stream: this.bucket.openDownloadStream(name as never) };
  }

  async remove(name: string): Promise<void> {
    checkFileName(name);
    await this.guard('remove', async () => {
      await this.files().deleteOne({ _id: name });
      await this.chunks().deleteMany({ files_id: name });
    });
  }

  async list(prefix: string): Promise<FileInfo[]> {
    const docs = await this.guard('list', () =>
      this.files()
        .find(prefix ? { _id: { $gte: prefix, $lt: `${prefix}\uffff` } } : {}, { projection: { _id: 1, length: 1 } })
        .toArray()
    );
    return docs
      .map((d) => ({ name: d._id, size: d.length }))
      .filter((f) => f.name.startsWith(prefix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private files(): Collection<FilesDoc> {
    return this.db.collection<FilesDoc>(`${this.bucketName}.files`);
  }

  private chunks(): Collection<{ files_id: string }> {
    return this.db.collection<{ files_id: string }>(`${this.bucketName}.chunks`);
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError(`GridFS file store is closed (${what})`);
    try {
      return await fn();
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      this.recovery.noticeUnavailable();
      throw new StoreUnavailableError(`MongoDB unavailable (files ${what}): ${(err as Error).message}`, { cause: err });
    }
  }
}
