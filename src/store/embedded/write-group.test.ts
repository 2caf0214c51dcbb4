// Write requests that share one LMDB commit are applied as one group: first all in one child
// transaction with one sum of their counter changes, and when one of them throws, all again, each
// in a child of its own (see EmbeddedStore.applyGroup). Whatever the group holds, every request must
// end exactly as it would alone, one after the other: written whole, refused whole (a version
// conflict), or failed whole (an error half-way), with the stored records, counters and index flags
// of that sequence. Checked here against a model of that sequence over random groups of requests,
// some of which fail every time (an index entry put that throws), across restarts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError, VersionConflictError, type SearchIndex, type VersionPrecondition, type WriteOp } from '../store.js';
import { expectedCounters, indexDefsOf, storedCounters } from './counter-oracle.fixture.js';
import { EmbeddedStore } from './embedded-store.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Internals {
  idx: { putSync: (...args: unknown[]) => unknown };
  applyGroup: (group: { requests: WriteOp[][] }) => void;
}

const IDS = ['a', 'b', 'c', 'd'];
/**
 * An index entry put of this code throws, every time: a request writing it fails half-way (its
 * record and history entry already put). Entries are put per request (counters are summed per
 * group, so a counter put would not be a per-request failure).
 */
const POISON = 'boom';
const INDEXES = { Immunization: ['s.patient', 's.vaccine-code.c', 's.date.lo', 's.vaccine-code.c+s.date.lo'] };

interface Op {
  id: string;
  remove: boolean;
  ifVersion: VersionPrecondition;
  code: string;
  /** Two patients make `s.patient` an index holding several values per document (its `multi` flag). */
  patients: string[];
}

const opArb: fc.Arbitrary<Op> = fc.record({
  id: fc.constantFrom(...IDS),
  remove: fc.constantFrom(false, false, false, true),
  ifVersion: fc.oneof(fc.constant<VersionPrecondition>('any'), fc.constant<VersionPrecondition>('absent'), fc.integer({ min: 1, max: 3 })),
  code: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('08', '20') }, { weight: 1, arbitrary: fc.constant(POISON) }),
  patients: fc.uniqueArray(fc.constantFrom('p1', 'p2'), { maxLength: 2 }),
});

interface Round {
  /** Issued in one event turn: one commit, one write group. */
  requests: Op[][];
  restartAfter: boolean;
}

const roundArb: fc.Arbitrary<Round> = fc.record({
  requests: fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }),
  restartAfter: fc.boolean(),
});

function writeOp(o: Op): WriteOp {
  const base = { resourceType: 'Immunization', id: o.id, ifVersion: o.ifVersion };
  if (o.remove) return base;
  const resource = { resourceType: 'Immunization', id: o.id, status: 'completed', lotNumber: `${o.code}:${o.patients.join(',')}` } as Resource;
  const index: SearchIndex = {
    'vaccine-code': [{ c: o.code }],
    date: { lo: '2024-01-01', hi: '2024-01-01' },
    patient: o.patients.map((p) => `Patient/${p}`),
  };
  return { ...base, resource, index };
}

interface Stored {
  v: number;
  deleted: boolean;
  op?: Op;
}

type Expected = { kind: 'written'; versions: number[] } | { kind: 'conflict' } | { kind: 'failed' };

/** The model: requests one after the other, each all-or-nothing. */
function runAlone(state: Map<string, Stored>, request: Op[], multi: { patient: boolean }): Expected {
  const known = new Map<string, Stored | undefined>();
  const versions: number[] = [];
  for (const o of request) {
    const cur = known.has(o.id) ? known.get(o.id) : state.get(o.id);
    const ok = o.ifVersion === 'any' || (o.ifVersion === 'absent' ? !cur || cur.deleted : cur !== undefined && cur.v === o.ifVersion);
    if (!ok) return { kind: 'conflict' };
    const v = (cur?.v ?? 0) + 1;
    versions.push(v);
    known.set(o.id, { v, deleted: o.remove, op: o.remove ? undefined : o });
  }
  if (request.some((o) => !o.remove && o.code === POISON)) return { kind: 'failed' };
  for (const [id, s] of known) state.set(id, s as Stored);
  if (request.some((o) => !o.remove && o.patients.length > 1)) multi.patient = true;
  return { kind: 'written', versions };
}

describe('embedded store write groups', () => {
  it('end every request as it would end alone, in order: written, refused or failed whole', async () => {
    const groupSizes: number[] = [];
    let fellBack = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(roundArb, { minLength: 1, maxLength: 5 }), async (rounds) => {
        const dir = await mkdtemp(join(tmpdir(), 'iis-write-group-'));
        dirs.push(dir);
        const open = async () => {
          const s = new EmbeddedStore({ dataDir: dir, indexes: INDEXES });
          await s.init();
          const internals = s as unknown as Internals;
          const realPut = internals.idx.putSync;
          internals.idx.putSync = function (this: unknown, ...args: unknown[]) {
            if ((args[0] as unknown[])[1] === POISON) throw new Error('injected: index entry put failed');
            return realPut.apply(this, args);
          };
          const realGroup = internals.applyGroup;
          internals.applyGroup = function (this: unknown, group: { requests: WriteOp[][] }) {
            groupSizes.push(group.requests.length);
            if (group.requests.length > 1 && group.requests.some((ops) => ops.some((op) => (op.index?.['vaccine-code'] as Array<{ c: string }> | undefined)?.[0]?.c === POISON))) fellBack++;
            return realGroup.call(this, group);
          };
          return s;
        };
        let store = await open();
        const state = new Map<string, Stored>();
        const multi = { patient: false };
        try {
          for (const round of rounds) {
            const settled = await Promise.allSettled(round.requests.map((r) => store.transact(r.map(writeOp))));
            round.requests.forEach((request, i) => {
              const expected = runAlone(state, request, multi);
              const result = settled[i];
              if (expected.kind === 'written') {
                expect(result.status).toBe('fulfilled');
                if (result.status === 'fulfilled') expect(result.value.map((r) => r.versionId)).toEqual(expected.versions);
              } else {
                expect(result.status).toBe('rejected');
                if (result.status === 'rejected') {
                  expect(result.reason).toBeInstanceOf(expected.kind === 'conflict' ? VersionConflictError : StoreUnavailableError);
                }
              }
            });
            if (round.restartAfter) {
              await store.close();
              store = await open();
              const patientDef = indexDefsOf(store, 'Immunization').find((d) => d.path === 's.patient')!;
              expect(!!patientDef.multi).toBe(multi.patient);
            }
            for (const id of IDS) {
              const rec = await store.read('Immunization', id);
              const s = state.get(id);
              expect(rec?.versionId).toBe(s?.v);
              expect(rec?.deleted ?? undefined).toBe(s?.deleted);
              if (s && !s.deleted) expect(rec?.resource).toMatchObject({ lotNumber: `${s.op!.code}:${s.op!.patients.join(',')}` });
            }
            // The instants the store stamped are not tracked here: lastUpdated's counters are left out.
            const defs = indexDefsOf(store, 'Immunization').filter((d) => d.path !== 'lastUpdated');
            const liveDocs = [...state].filter(([, s]) => !s.deleted && s.op).map(([id, s]): [string, { lastUpdated: string; s: SearchIndex }] => [id, { lastUpdated: '', s: writeOp(s.op!).index as SearchIndex }]);
            expect(storedCounters(store, defs)).toEqual(expectedCounters(liveDocs, defs));
            const live = [...state.values()].filter((s) => !s.deleted && s.op);
            for (const code of ['08', '20', POISON]) {
              expect(await store.count('Immunization', { 's.vaccine-code.c': code })).toBe(live.filter((s) => s.op!.code === code).length);
            }
            expect(await store.count('Immunization', { 's.patient': 'Patient/p1' })).toBe(live.filter((s) => s.op!.patients.includes('p1')).length);
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 }
    );
    // The groups did form, and some fell back to one child per request.
    expect(groupSizes.some((n) => n > 1)).toBe(true);
    expect(fellBack).toBeGreaterThan(0);
  });
});
