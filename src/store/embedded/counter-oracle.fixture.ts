// The oracle of the store tests that check the `stats` counters (counters.test.ts,
// write-group.test.ts): what the store holds for some indexes, and what the live documents call
// for, both as `stats` key (JSON) → count, so one `toEqual` compares them.
import type { SearchIndex } from '../store.js';
import type { EmbeddedStore } from './embedded-store.js';
import { indexTuples, type IndexDef } from './index-values.js';

interface CounterInternals {
  stats: { getRange(options?: object): Iterable<{ key: unknown[]; value: number }> };
  defs: Map<string, IndexDef[]>;
}

/** The index definitions the store holds for a type (after init). */
export function indexDefsOf(store: EmbeddedStore, resourceType: string): IndexDef[] {
  return (store as unknown as CounterInternals).defs.get(resourceType) ?? [];
}

/** The counters the store holds for these indexes. */
export function storedCounters(store: EmbeddedStore, defs: IndexDef[]): Map<string, number> {
  const ns = new Set(defs.map((d) => d.n));
  const entries = [...(store as unknown as CounterInternals).stats.getRange()].filter((e) => ns.has(e.key[0] as number));
  return new Map(entries.map((e) => [JSON.stringify(e.key), e.value]));
}

/**
 * The counters these indexes call for: for each counted index, each value tuple without a missing
 * part, the number of live documents holding it.
 */
export function expectedCounters(live: Iterable<[id: string, doc: { lastUpdated: string; s: SearchIndex }]>, defs: IndexDef[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [id, { lastUpdated, s }] of live) {
    for (const def of defs) {
      if (!def.counted) continue;
      for (const t of indexTuples({ _id: id, lastUpdated, s }, def)) {
        if (t.includes(null)) continue;
        const name = JSON.stringify([def.n, ...t]);
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    }
  }
  return counts;
}
