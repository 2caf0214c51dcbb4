// Group commit: concurrent writes share one LMDB commit (one fsync), so durable throughput scales with load.
// Prints the measured rates for information only: speed targets live in the benchmarks (npm run bench),
// not in timed tests, so a busy CI machine cannot fail here. What is asserted is that every transaction,
// sequential or 100 in flight, commits whole.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from './embedded-store.js';

function immunization(id: string, i: number): Resource {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '208', display: 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose' }] },
    patient: { reference: `Patient/p${i % 1000}` },
    occurrenceDateTime: '2024-03-01T10:00:00Z',
    primarySource: true,
    lotNumber: `LOT${i}`,
    performer: [{ actor: { reference: 'Practitioner/pr1' } }],
    protocolApplied: [{ doseNumberPositiveInt: 1, series: 'primary' }],
  } as Resource;
}

describe('embedded store throughput', () => {
  let dir: string;
  let store: EmbeddedStore;
  let syncs = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iis-embedded-bench-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: { Immunization: ['s.patient'] } });
    await store.init();
    // Every LMDB commit (one fsync each, overlappingSync being off) fires aftercommit.
    const env = (store as unknown as { env: { on: (event: string, fn: () => void) => void } }).env;
    env.on('aftercommit', () => syncs++);
  });

  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('batches concurrent single writes into shared commits', async () => {
    const n = 2000;
    const before = syncs;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        store.write({ resourceType: 'Immunization', id: `s${i}`, resource: immunization(`s${i}`, i), ifVersion: 'absent', index: { patient: `Patient/p${i % 1000}` } })
      )
    );
    const secs = (performance.now() - t0) / 1000;
    const fsyncs = syncs - before;
    console.log(`[embedded throughput] ${n} concurrent single writes: ${Math.round(n / secs)} resources/s, ${fsyncs} commits`);
    expect(fsyncs).toBeLessThan(n / 10);
    expect(await store.count('Immunization', {})).toBe(n);
  });

  it('commits 100-resource transactions whole, one at a time and 100 in flight', async () => {
    const txs = 100;
    const t0 = performance.now();
    for (let t = 0; t < txs; t++) {
      await store.transact(
        Array.from({ length: 100 }, (_, k) => {
          const i = t * 100 + k;
          return { resourceType: 'Immunization', id: `t${i}`, resource: immunization(`t${i}`, i), ifVersion: 'absent' as const, index: { patient: `Patient/p${i % 1000}` } };
        })
      );
    }
    const secs = (performance.now() - t0) / 1000;
    const sequential = Math.round((txs * 100) / secs);

    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: txs }, (_, t) =>
        store.transact(
          Array.from({ length: 100 }, (_, k) => {
            const i = t * 100 + k;
            return { resourceType: 'Immunization', id: `c${i}`, resource: immunization(`c${i}`, i), ifVersion: 'absent' as const, index: { patient: `Patient/p${i % 1000}` } };
          })
        )
      )
    );
    const concurrent = Math.round((txs * 100) / ((performance.now() - t1) / 1000));
    console.log(
      `[embedded throughput] 100-resource transact(): ${sequential} resources/s one at a time, ${concurrent} resources/s with 100 in flight`
    );
    expect(await store.count('Immunization', { 's.patient': 'Patient/p7' })).toBe(22); // s7, s1007 + ten t and ten c
    for (const prefix of ['t', 'c']) {
      for (const i of [0, 99, 5_050, 9_999]) expect((await store.read('Immunization', `${prefix}${i}`))?.id).toBe(`${prefix}${i}`);
    }
  });
});
