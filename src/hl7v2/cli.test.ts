// npm run backfill:conditions (cli.ts): runs the backfill on the store DATA_DIR names and reports it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Immunization } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../app/open-store.js';
import type { Config } from '../config.js';
import { indexFor } from '../interactions/write-support.js';
import { runBackfillCli } from './cli.js';

let dataDir: string;
let config: Config;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-backfill-cli-'));
  config = { port: 0, publicBaseUrl: 'http://127.0.0.1:0', dataDir, bodyLimitBytes: 1024 * 1024, logLevel: 'silent', authJwtSecret: 'x' } as Config;
  // A registry stored before OBX became Conditions: one dose with the observation as its extension.
  const store = await createStore(config);
  await store.init();
  const dose: Immunization = {
    resourceType: 'Immunization',
    id: 'old-dose',
    status: 'not-done',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.3.72.5.9.1', value: 'OLD-1' }],
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '998' }] },
    patient: { reference: 'Patient/old-child' },
    occurrenceDateTime: '2024-05-01',
    extension: [{ url: 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity', valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '38907003' }] } }],
  };
  await store.write({ resourceType: 'Immunization', id: 'old-dose', resource: dose, ifVersion: 'absent', index: indexFor(dose) });
  await store.close();
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm run backfill:conditions', () => {
  it('--status before, a run to the end, --status after; a bad --page-size is refused', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(`ERR ${l}`) };
    expect(await runBackfillCli(['--status'], config, io)).toBe(0);
    expect(lines.pop()).toMatch(/^not started/);
    expect(await runBackfillCli([], config, io)).toBe(0);
    expect(lines.pop()).toMatch(/^done at .*: 1 doses examined .*, 1 Conditions made$/);
    expect(await runBackfillCli(['--status'], config, io)).toBe(0);
    expect(lines.pop()).toMatch(/^done at .*, 1 Conditions made$/);
    const store = await createStore(config);
    await store.init();
    const conditions = await store.search('Condition', { filter: { 's.patient': 'Patient/old-child' }, limit: 10 });
    await store.close();
    expect(conditions.map((c) => c.resource?.resourceType)).toEqual(['Condition']);
    expect(await runBackfillCli(['--page-size', '0'], config, io)).toBe(2);
    expect(lines.pop()).toMatch(/^ERR --page-size/);
  });
});
