import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CodeSystem } from '@medplum/fhirtypes';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.js';
import { CDSI_OBSERVATION_SYSTEM } from '../forecast/fhir.js';
import { defaultSupportingData, supportingDataFingerprint } from '../forecast/supporting-data.js';
import { EMBEDDED_INDEXES } from '../search/indexes.js';
import { extractSearchIndex } from '../search/extract.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { CodeSets } from './code-sets.js';
import { cdsiObservationCodeSystem, CDSI_OBSERVATION_ID, syncCdsiObservations } from './cdsi-observations.js';

const concept = (cs: CodeSystem, code: string) => cs.concept?.find((c) => c.code === code);
const values = (cs: CodeSystem, code: string, property: string) =>
  (concept(cs, code)?.property ?? []).filter((p) => p.code === property).map((p) => p.valueCode ?? p.valueString ?? `${p.valueCoding?.system}|${p.valueCoding?.code}`);

describe('CodeSystem/cdsi-observation from the CDSi supporting data', () => {
  const cs = cdsiObservationCodeSystem();

  it('lists every observation of the supporting data with its title, under the CDSi system', () => {
    expect(cs.url).toBe(CDSI_OBSERVATION_SYSTEM);
    expect(cs.id).toBe(CDSI_OBSERVATION_ID);
    expect(cs.concept!.length).toBeGreaterThan(250);
    expect(cs.count).toBe(cs.concept!.length);
    expect(concept(cs, '024')?.display).toBe('Healthcare provider verified history of or diagnosis of Varicella');
  });

  it('says how the forecast uses each one and for which antigens', () => {
    expect(values(cs, '024', 'kind')).toEqual(['immunity']);
    expect(values(cs, '024', 'antigen')).toEqual(['Varicella']);
    // Pregnancy rules out the live vaccines: a contraindication for measles, varicella, …
    expect(values(cs, '007', 'kind')).toContain('contraindication');
    expect(values(cs, '007', 'antigen')).toEqual(expect.arrayContaining(['Measles', 'Varicella']));
    // Splenectomy ahead: a risk indication (e.g. meningococcal, pneumococcal).
    expect(values(cs, '002', 'kind')).toEqual(['indication']);
  });

  it('carries the SNOMED and CDC PHIN VADS codes the data maps to an observation', () => {
    expect(values(cs, '003', 'mappedCode')).toEqual(['http://snomed.info/sct|370388006', 'urn:oid:2.16.840.1.114222.4.5.274|VXC27']);
  });
});

describe('syncCdsiObservations', () => {
  let dir: string | undefined;
  let store: EmbeddedStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    store = undefined;
    dir = undefined;
  });

  it('writes the code system once, again only when the supporting data changed (its fingerprint is the version), and the code sets load it', async () => {
    loadDefinitions();
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-cdsi-obs-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: EMBEDDED_INDEXES });
    await store.init();
    let parsed = 0;
    const release = (version: string) => ({ version, data: () => (parsed++, defaultSupportingData()) });
    expect(await syncCdsiObservations(store)).toBe(true);
    const first = (await store.read('CodeSystem', CDSI_OBSERVATION_ID))!;
    expect(first.versionId).toBe(1);
    expect((first.resource as CodeSystem).version).toBe(`sha256:${supportingDataFingerprint()}`);
    // The same files: nothing parsed, nothing written.
    expect(await syncCdsiObservations(store, release(supportingDataFingerprint()))).toBe(false);
    expect(parsed).toBe(0);

    // A new release (other files, another fingerprint): written again, from the data.
    const edited: CodeSystem = { ...(first.resource as CodeSystem), concept: [{ code: '999', display: 'not CDC' }] };
    await store.write({ resourceType: 'CodeSystem', id: CDSI_OBSERVATION_ID, resource: edited, ifVersion: 'any', index: extractSearchIndex(edited) });
    expect(await syncCdsiObservations(store, release('next-release'))).toBe(true);
    expect(parsed).toBe(1);
    const now = (await store.read('CodeSystem', CDSI_OBSERVATION_ID))!;
    expect(now.versionId).toBe(3);
    expect((now.resource as CodeSystem).version).toBe('sha256:next-release');
    expect(concept(now.resource as CodeSystem, '024')).toBeDefined();

    const codeSets = new CodeSets([now.resource!]);
    expect(codeSets.codeSystem(CDSI_OBSERVATION_SYSTEM)?.resource.id).toBe(CDSI_OBSERVATION_ID);
  });

  it('the fingerprint follows the files: the shipped data has a stable one, another directory another', async () => {
    expect(supportingDataFingerprint()).toMatch(/^[0-9a-f]{64}$/);
    expect(supportingDataFingerprint()).toBe(supportingDataFingerprint());
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-cdsi-files-'));
    await writeFile(path.join(dir, 'ScheduleSupportingData.xml'), '<scheduleSupportingData/>');
    const one = supportingDataFingerprint(dir);
    await writeFile(path.join(dir, 'notes.txt'), 'not supporting data');
    expect(supportingDataFingerprint(dir)).toBe(one);
    await writeFile(path.join(dir, 'ScheduleSupportingData.xml'), '<scheduleSupportingData></scheduleSupportingData>');
    expect(supportingDataFingerprint(dir)).not.toBe(one);
  });
});
