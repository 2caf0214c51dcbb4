// Short-lived records (../expiring.ts) in MongoDB: the collection `expiring` of the store's
// database, one document per record:
//   { _id: "<namespace>/<key>", ns, v: value as JSON text, u: { field: JSON text } (set by update),
//     x: Date (expiresAt), l: ["<name>:<value>", …] }
// The value is kept as text because its keys are anyone's (oidc-provider's grants are keyed by the
// FHIR base URL): FerretDB refuses keys with a '.', and MongoDB treats '$' and '.' specially.
// with the indexes { ns, x } (the expiry order `sweep` walks: only the expired records) and
// { ns, l } (lookups). Writes use the store client's write concern (w: majority, j: true), so a
// record is durable when its promise resolves. No TTL index: FerretDB 1.x does not expire
// documents, and every read filters on `x` anyway; `sweep` removes expired records on both.
// FerretDB's updates are not atomic (read, then write back): `update` may then lose a concurrent
// update of the same record, which the sign-in server never makes (it sets `consumed` once).
import type { Collection } from 'mongodb';
import { checkFields, checkLookup, checkRecord, DEFAULT_LIST_LIMIT, DEFAULT_SWEEP_LIMIT, type ExpiringRecord, type ExpiringRecords } from '../expiring.js';

export const EXPIRING_COLLECTION = 'expiring';

export interface ExpiringDoc {
  _id: string;
  ns: string;
  v: string;
  u?: Record<string, string>;
  x: Date;
  l: string[];
}

/** The indexes of the `expiring` collection (created one by one at init, like the store's others). */
export const EXPIRING_INDEXES: Array<Record<string, 1 | -1>> = [{ ns: 1, x: 1 }, { ns: 1, l: 1 }];

export class MongoExpiringRecords implements ExpiringRecords {
  constructor(
    private readonly coll: Collection<ExpiringDoc>,
    private readonly ns: string,
    /** The store's connection-error guard (StoreUnavailableError, HTTP 503). */
    private readonly guard: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
    private readonly now: () => number = Date.now
  ) {}

  private id(key: string): string {
    return `${this.ns}/${key}`;
  }

  async put(record: ExpiringRecord): Promise<void> {
    checkRecord(record);
    const doc: ExpiringDoc = {
      _id: this.id(record.key),
      ns: this.ns,
      v: JSON.stringify(record.value),
      x: new Date(record.expiresAt),
      l: Object.entries(record.lookups ?? {}).map(([name, value]) => `${name}:${value}`),
    };
    await this.guard('expiring put', () => this.coll.replaceOne({ _id: doc._id }, doc, { upsert: true }));
  }

  async get(key: string): Promise<ExpiringRecord | undefined> {
    const doc = await this.guard('expiring get', () => this.coll.findOne({ _id: this.id(key), x: { $gt: new Date(this.now()) } }));
    return doc ? this.recordOf(doc) : undefined;
  }

  async findBy(name: string, value: string): Promise<ExpiringRecord | undefined> {
    checkLookup(name, value);
    const doc = await this.guard('expiring findBy', () => this.coll.findOne({ ns: this.ns, l: `${name}:${value}`, x: { $gt: new Date(this.now()) } }));
    return doc ? this.recordOf(doc) : undefined;
  }

  async listBy(name: string, value: string, limit = DEFAULT_LIST_LIMIT): Promise<ExpiringRecord[]> {
    checkLookup(name, value);
    const docs = await this.guard('expiring listBy', () => this.coll.find({ ns: this.ns, l: `${name}:${value}`, x: { $gt: new Date(this.now()) } }, { limit }).toArray());
    return docs.map((doc) => this.recordOf(doc));
  }

  async update(key: string, fields: Record<string, unknown>): Promise<boolean> {
    checkFields(fields);
    const set = Object.fromEntries(Object.entries(fields).map(([name, value]) => [`u.${name}`, JSON.stringify(value)]));
    if (Object.keys(set).length === 0) return (await this.get(key)) !== undefined;
    const res = await this.guard('expiring update', () => this.coll.updateOne({ _id: this.id(key), x: { $gt: new Date(this.now()) } }, { $set: set }));
    return res.matchedCount > 0;
  }

  async remove(key: string): Promise<void> {
    await this.guard('expiring remove', () => this.coll.deleteOne({ _id: this.id(key) }));
  }

  async take(key: string): Promise<ExpiringRecord | undefined> {
    return this.guard('expiring take', async () => {
      const doc = await this.coll.findOne({ _id: this.id(key), x: { $gt: new Date(this.now()) } });
      if (!doc) return undefined;
      // The deletion decides who takes it: of concurrent takes only one deletes the document.
      // (FerretDB's findOneAndDelete reads, then deletes: two could both get it.)
      const res = await this.coll.deleteOne({ _id: doc._id, v: doc.v, x: doc.x });
      return res.deletedCount === 1 ? this.recordOf(doc) : undefined;
    });
  }

  async removeBy(name: string, value: string): Promise<number> {
    checkLookup(name, value);
    const res = await this.guard('expiring removeBy', () => this.coll.deleteMany({ ns: this.ns, l: `${name}:${value}` }));
    return res.deletedCount;
  }

  async sweep(limit = DEFAULT_SWEEP_LIMIT): Promise<number> {
    const cutoff = new Date(this.now());
    return this.guard('expiring sweep', async () => {
      const expired = await this.coll.find({ ns: this.ns, x: { $lte: cutoff } }, { projection: { _id: 1 }, sort: { x: 1 }, limit }).toArray();
      if (expired.length === 0) return 0;
      // Only those still expired (a put may have renewed one meanwhile).
      const res = await this.coll.deleteMany({ _id: { $in: expired.map((d) => d._id) }, x: { $lte: cutoff } });
      return res.deletedCount;
    });
  }

  private recordOf(doc: ExpiringDoc): ExpiringRecord {
    const lookups: Record<string, string> = {};
    for (const entry of doc.l ?? []) {
      const colon = entry.indexOf(':');
      lookups[entry.slice(0, colon)] = entry.slice(colon + 1);
    }
    return {
      key: doc._id.slice(this.ns.length + 1),
      value: { ...(JSON.parse(doc.v) as Record<string, unknown>), ...Object.fromEntries(Object.entries(doc.u ?? {}).map(([name, text]) => [name, JSON.parse(text)])) },
      expiresAt: doc.x.getTime(),
      ...(Object.keys(lookups).length > 0 ? { lookups } : {}),
    };
  }
}
