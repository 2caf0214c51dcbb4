// Chooses the store from configuration: MongoDB when MONGODB_URL is set, else the embedded store.
// The file store (bulk export output) lives next to it: GridFS in the same database, or DATA_DIR/bulk.
import path from 'node:path';
import type { Config } from '../config.js';
import { EMBEDDED_INDEXES, embeddedUncounted as searchUncounted, MONGO_INDEXES } from '../search/indexes.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { DirectoryFileStore } from '../store/embedded/file-store.js';
import type { FileStore } from '../store/files.js';
import type { Store } from '../store/store.js';
import { STORED_MATCH_KEYS } from '../matching/candidates.js';

// The MongoDB modules (and the mongodb driver, ~0.3 s of CPU to load) are imported only when used.
export async function createStore(config: Config): Promise<Store> {
  if (config.mongodbUrl) {
    const { MongoStore } = await import('../store/mongo/mongo-store.js');
    return new MongoStore({ url: config.mongodbUrl, indexes: mongoIndexes() });
  }
  return new EmbeddedStore({ dataDir: config.dataDir, indexes: embeddedIndexes(), uncounted: embeddedUncounted });
}

/** The search indexes plus the matching engine's blocking keys (`s._m`) on Patient. */
export function embeddedIndexes(): Record<string, string[]> {
  return { ...EMBEDDED_INDEXES, Patient: [...(EMBEDDED_INDEXES.Patient ?? []), STORED_MATCH_KEYS] };
}

/**
 * The embedded indexes kept without per-value counters (EmbeddedStoreOptions.uncounted): the search
 * indexes' few-entries-per-value ones, and the blocking keys (~7.5 counters a VXU's Patient changed,
 * read only to skip keys that meet no one, which a look at the key's first entry tells as well).
 */
export function embeddedUncounted(resourceType: string, path: string): boolean {
  return (resourceType === 'Patient' && path === STORED_MATCH_KEYS) || searchUncounted(resourceType, path);
}

export function mongoIndexes(): Record<string, Array<Record<string, 1 | -1>>> {
  return { ...MONGO_INDEXES, Patient: [...(MONGO_INDEXES.Patient ?? []), { [STORED_MATCH_KEYS]: 1 }] };
}

export async function createFileStore(config: Config): Promise<FileStore> {
  if (config.mongodbUrl) {
    const { GridFsFileStore } = await import('../store/mongo/gridfs-file-store.js');
    return new GridFsFileStore({ url: config.mongodbUrl });
  }
  return new DirectoryFileStore(path.join(config.dataDir, 'bulk'));
}
