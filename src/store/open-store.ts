// Chooses the store from configuration: MongoDB when MONGODB_URL is set, else the embedded store.
import type { Config } from '../config.js';
import { EMBEDDED_INDEXES, MONGO_INDEXES } from '../search/indexes.js';
import { EmbeddedStore } from './embedded/embedded-store.js';
import { MongoStore } from './mongo/mongo-store.js';
import type { Store } from './store.js';

export function createStore(config: Config): Store {
  if (config.mongodbUrl) return new MongoStore({ url: config.mongodbUrl, indexes: MONGO_INDEXES });
  return new EmbeddedStore({ dataDir: config.dataDir, indexes: EMBEDDED_INDEXES });
}
