// Keeps the in-memory CodeSets equal to the terminology resources in the store:
// - on start: seeds the CDC code sets from profiles/codesets/cdc when absent, then loads;
// - on every committed write of a CodeSystem / ValueSet / ConceptMap through this process's store
//   (HTTP, bundles, `npm run codesets -- import`): applies the committed version in memory before
//   the write is acknowledged, so the next request's rules see the new codes;
// - every `pollMs`: compares the newest history entry of those types with what was loaded, so a
//   write made by another server process sharing the store is picked up too.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from '../logger.js';
import { extractSearchIndex } from '../search/extract.js';
import { VersionConflictError, type ResourceRecord, type Store, type WriteOp } from '../store/store.js';
import { readCdcDirectory, type CdcRelease } from './cdc-files.js';
import { CodeSets } from './code-sets.js';
import { releaseResources, TERMINOLOGY_IDS, TERMINOLOGY_TYPES, type TerminologyResource } from './resources.js';

/** The CDC files the server seeds from (copied with provenance, see profiles/codesets/PROVENANCE.md). */
export const SEED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../profiles/codesets/cdc');

const TYPES: ReadonlySet<string> = new Set(TERMINOLOGY_TYPES);
/** How often a server looks for code-set writes made by other server processes. */
export const DEFAULT_POLL_MS = 30_000;
const PAGE = 1000;

export function isTerminologyType(resourceType: string): boolean {
  return TYPES.has(resourceType);
}

/** The complete release in a directory (throws when one of its files is missing). */
export function readRelease(dir: string): CdcRelease {
  const r = readCdcDirectory(dir);
  if (!r.cvx || !r.mvx || !r.ndc) {
    throw new Error(`${dir} must hold cvx.xml, mvx.xml and NDC_Unit_use.txt / NDC_Unit_sale.txt (found: ${r.files.join(', ') || 'none'})`);
  }
  return { cvx: r.cvx, mvx: r.mvx, ndc: r.ndc };
}

export interface TerminologySyncOptions {
  logger?: Logger;
  /** How often to look for writes by other processes (ms); 0 disables. Default DEFAULT_POLL_MS. */
  pollMs?: number;
  seedDir?: string;
}

export class TerminologySync {
  private reloading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  /** Newest history entry per terminology type when last loaded (another process's write changes it). */
  private stamps = new Map<string, string>();
  /** The current terminology resources, by `Type/id`. */
  private resources = new Map<string, Resource>();
  /** How long the last load took (ms), for logs and benchmarks. */
  lastLoadMs = 0;

  constructor(
    private readonly store: Store,
    readonly codeSets: CodeSets,
    private readonly options: TerminologySyncOptions = {}
  ) {}

  /** Seeds when absent, loads, starts polling. */
  async start(): Promise<{ seeded: string[]; seedMs: number; loadMs: number }> {
    const t0 = performance.now();
    const seeded = await this.seedIfAbsent(this.options.seedDir ?? SEED_DIR);
    const seedMs = performance.now() - t0;
    await this.reload();
    const pollMs = this.options.pollMs ?? DEFAULT_POLL_MS;
    if (pollMs > 0) {
      this.timer = setInterval(() => {
        this.reloadIfChangedElsewhere().catch((err: unknown) =>
          this.options.logger?.warn('terminology refresh failed', { error: String(err) })
        );
      }, pollMs);
      this.timer.unref();
    }
    this.options.logger?.info('code sets loaded', { seeded, seedMs: Math.round(seedMs), loadMs: Math.round(this.lastLoadMs), ...this.codeSets.counts });
    return { seeded, seedMs, loadMs: this.lastLoadMs };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Writes every terminology resource of the release in dir that the store does not hold (or holds
   * only as deleted). Safe when several processes start at once: creation is conditional on absence.
   */
  async seedIfAbsent(dir: string): Promise<string[]> {
    const present = await Promise.all(
      seedIds().map(async ([type, id]) => {
        const record = await this.store.read(type, id);
        return record !== undefined && !record.deleted;
      })
    );
    if (present.every(Boolean)) return [];
    const resources = releaseResources(readRelease(dir));
    const seeded: string[] = [];
    await this.store.withLock('terminology-seed', async () => {
      for (const resource of resources) {
        const current = await this.store.read(resource.resourceType, resource.id!);
        if (current && !current.deleted) continue;
        try {
          await this.store.write(writeOp(resource, 'absent'));
          seeded.push(`${resource.resourceType}/${resource.id}`);
        } catch (err) {
          if (!(err instanceof VersionConflictError)) throw err;
        }
      }
    });
    return seeded;
  }

  /** Rebuilds the code sets from the store; concurrent calls coalesce into at most one more load. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.loadOnce();
        } while (this.again);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async loadOnce(): Promise<void> {
    const t0 = performance.now();
    const stamps = await this.currentStamps();
    const resources = new Map<string, Resource>();
    await Promise.all(
      TERMINOLOGY_TYPES.map(async (type) => {
        for (let skip = 0; ; skip += PAGE) {
          const page = await this.store.search(type, { filter: {}, sort: [{ field: '_id', direction: 1 }], limit: PAGE, skip });
          for (const record of page) if (record.resource) resources.set(`${type}/${record.id}`, record.resource);
          if (page.length < PAGE) break;
        }
      })
    );
    this.resources = resources;
    this.stamps = stamps;
    this.codeSets.load([...resources.values()]);
    this.lastLoadMs = performance.now() - t0;
  }

  /** The newest history entry of each terminology type. */
  private async currentStamps(): Promise<Map<string, string>> {
    const entries = await Promise.all(
      TERMINOLOGY_TYPES.map(async (type): Promise<[string, string]> => {
        const [newest] = await this.store.history({ resourceType: type, count: 1 });
        return [type, newest ? stampOf(newest) : 'none'];
      })
    );
    return new Map(entries);
  }

  /** Reloads when some process wrote a terminology resource since the last load (the poll). */
  async reloadIfChangedElsewhere(): Promise<boolean> {
    const stamps = await this.currentStamps();
    if ([...stamps].every(([type, stamp]) => this.stamps.get(type) === stamp)) return false;
    await this.reload();
    return true;
  }

  /**
   * Applies writes this process just committed, without reading the store back: the committed
   * versions replace (or, deleted, remove) the loaded ones and the index is rebuilt in memory.
   */
  private applyCommitted(records: ResourceRecord[]): void {
    let changed = false;
    for (const record of records) {
      if (!isTerminologyType(record.resourceType)) continue;
      const key = `${record.resourceType}/${record.id}`;
      if (record.deleted || !record.resource) this.resources.delete(key);
      else this.resources.set(key, record.resource);
      this.stamps.set(record.resourceType, stampOf(record));
      changed = true;
    }
    if (!changed) return;
    this.codeSets.load([...this.resources.values()]);
    // A load in flight may have read the store before this write: make it read again.
    if (this.reloading) this.again = true;
  }

  /**
   * Told about every committed write of the request pipeline (the server context's commit
   * observer): a committed write of a terminology resource updates the code sets before the write
   * is acknowledged to the client.
   */
  readonly onCommitted = (records: ResourceRecord[]): void => {
    if (!records.some((r) => isTerminologyType(r.resourceType))) return;
    try {
      this.applyCommitted(records);
    } catch (err) {
      // The write is committed; the poller reloads from the store.
      this.stamps.clear();
      this.options.logger?.error('terminology update failed', { error: String(err) });
    }
  };
}

/** The ids of the seeded resources (a fresh store lacks them all). */
function seedIds(): Array<[string, string]> {
  const I = TERMINOLOGY_IDS;
  return [
    ['CodeSystem', I.cvx],
    ['CodeSystem', I.mvx],
    ['ConceptMap', I.unitOfUse],
    ['ConceptMap', I.unitOfSale],
    ['ValueSet', I.vaccineCodes],
    ['ValueSet', I.cvxActive],
  ];
}

function stampOf(record: { resourceType: string; id: string; versionId: number; lastUpdated: string }): string {
  return `${record.resourceType}/${record.id}/${record.versionId}/${record.lastUpdated}`;
}

function writeOp(resource: TerminologyResource, ifVersion: WriteOp['ifVersion']): WriteOp {
  return { resourceType: resource.resourceType, id: resource.id!, resource, ifVersion, index: extractSearchIndex(resource) };
}
