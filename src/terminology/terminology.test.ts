import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CodeSystem } from '@medplum/fhirtypes';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../fhir/definitions.js';
import { EMBEDDED_INDEXES } from '../search/indexes.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import { extractSearchIndex } from '../search/extract.js';
import { cdcDate, parseCvx, parseMvx, parseNdc, parseVaccineGroups, readCdcDirectory } from './cdc-files.js';
import { CodeSets } from './code-sets.js';
import { diffResources, planFromRelease } from './import.js';
import { hyphenateNdc11, ndcCandidates, ndcDigits } from './ndc.js';
import { cvxCodeSystem, releaseResources, VACCINE_CODES_VALUESET } from './resources.js';
import { readRelease, SEED_DIR, TerminologySync } from './store-sync.js';
import { PUBLIC_HEALTH } from '../consent/access.js';
import { ScopedStore } from '../consent/scoped-store.js';

describe('NDC forms', () => {
  it('normalises the three 10-digit layouts to 11-digit 5-4-2', () => {
    expect(ndcCandidates('49281-0521-00')).toEqual(['49281052100']);
    expect(ndcCandidates('0005-0100-01')).toEqual(['00005010001']); // 4-4-2
    expect(ndcCandidates('49281-521-00')).toEqual(['49281052100']); // 5-3-2
    expect(ndcCandidates('49281-0521-0')).toEqual(['49281052100']); // 5-4-1
    expect(ndcCandidates(' 49281052100 ')).toEqual(['49281052100']);
  });
  it('a 10-digit NDC without hyphens is ambiguous: three candidates', () => {
    expect(ndcCandidates('4928152100')).toEqual(['04928152100', '49281052100', '49281521000']);
    expect(ndcDigits('4928152100')).toBeUndefined();
  });
  it('rejects what is not an NDC', () => {
    for (const bad of ['', 'abc', '123', '49281-05210-0', '49281-0521', '1-2-3', '492810521001']) expect(ndcCandidates(bad), bad).toEqual([]);
    expect(hyphenateNdc11('49281052100')).toBe('49281-0521-00');
  });
});

describe('CDC file parsing', () => {
  it('reads the copied release: counts, padding, dates, entities', () => {
    const release = readRelease(SEED_DIR);
    expect(release.cvx).toHaveLength(288);
    expect(release.mvx).toHaveLength(89);
    expect(new Set(release.ndc.map((n) => n.ndc11)).size).toBe(1000);
    const statuses = release.cvx.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.status]: (acc[c.status] ?? 0) + 1 }), {});
    expect(statuses).toEqual({ Active: 113, Inactive: 118, 'Non-US': 39, 'Never Active': 18 });
    const c08 = release.cvx.find((c) => c.code === '08')!;
    expect(c08).toMatchObject({ status: 'Active', lastUpdated: '2024-12-16', groups: [{ name: 'HepB', cvx: '45' }] });
    expect(release.cvx.find((c) => c.code === '110')!.groups.map((g) => g.name).sort()).toEqual(['DTAP', 'HepB', 'POLIO']);
    expect(release.cvx.some((c) => c.fullName?.includes('IgG1\u03ba'))).toBe(true); // &#954;
    expect(release.cvx.some((c) => c.notes?.includes('Janssen/J&J'))).toBe(true); // &amp;
  });

  it('merges duplicate NDC rows, keeps both CVX, links use ↔ sale with MVX', () => {
    const release = readRelease(SEED_DIR);
    const engerix = release.ndc.find((n) => n.hyphenated === '58160-0821-01' && n.kind === 'unitOfUse')!;
    expect(engerix.cvx.sort()).toEqual(['43', '44']);
    const fluzone = release.ndc.find((n) => n.hyphenated === '49281-0521-00')!;
    expect(fluzone).toMatchObject({ startDate: '2021-07-01', endDate: '2022-06-30', cvx: ['161'], mvx: ['PMC'] });
    expect(fluzone.linked.length).toBeGreaterThan(0);
    // unit of use id 3007 is reused for FLUAD (Seqirus) and FLUVIRIN (Novartis): linked by labeler
    const fluad = release.ndc.find((n) => n.hyphenated === '70461-0020-04')!;
    const fluvirin = release.ndc.find((n) => n.hyphenated === '66521-0114-02')!;
    expect(fluad.mvx).toEqual(['SEQ']);
    expect(fluvirin.mvx).toEqual(['NOV']);
  });

  it('small inputs: dates, Name/Value pairs, CRLF, non-breaking spaces', () => {
    expect(cdcDate('3/20/2011')).toBe('2011-03-20');
    expect(cdcDate('20210701')).toBe('2021-07-01');
    expect(cdcDate('2024-07-18 00:00:00')).toBe('2024-07-18');
    expect(cdcDate('')).toBeUndefined();
    expect(parseCvx('<CVXCodes><CVXInfo><ShortDescription>x</ShortDescription><CVXCode>3 </CVXCode><Notes/><Status>Never Active</Status><LastUpdated>1/2/2003</LastUpdated></CVXInfo></CVXCodes>')).toEqual([
      { code: '03', shortDescription: 'x', fullName: undefined, notes: undefined, status: 'Never Active', lastUpdated: '2003-01-02', groups: [] },
    ]);
    expect(parseMvx('<MVXInfo><Name>MVX_CODE</Name><Value>AB </Value><Name>Manufacturer Name</Name><Value>A &amp; B</Value><Name>Notes</Name><Value/><Name>Status</Name><Value>Active</Value><Name>Last Updated</Name><Value>1/1/2020</Value></MVXInfo>')).toEqual([
      { code: 'AB', name: 'A & B', notes: undefined, status: 'Active', lastUpdated: '2020-01-01' },
    ]);
    expect(parseVaccineGroups('<CVXVGInfo><Name>CVXCode</Name><Value>8</Value><Name>Vaccine Group Name</Name><Value>HepB</Value><Name>CVX for Vaccine Group</Name><Value>45</Value></CVXVGInfo>').get('08')).toEqual([
      { name: 'HepB', cvx: '45' },
    ]);
    const ndc = parseNdc('1|12345|6789|01|NAME\u00a0|generic|lab|20200101||VIAL||21        |desc|False|12345-6789-01|2020-01-01 00:00:00|\r\n', '', '');
    expect(ndc).toEqual([
      expect.objectContaining({ ndc11: '12345678901', proprietaryName: 'NAME', cvx: ['21'], startDate: '2020-01-01', kind: 'unitOfUse' }),
    ]);
  });

  it('a partial directory yields only what it holds', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'iis-empty-'));
    try {
      expect(readCdcDirectory(dir)).toEqual({ files: [] });
      expect(() => readRelease(dir)).toThrow(/must hold cvx.xml/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('CodeSets', () => {
  let codeSets: CodeSets;
  beforeAll(() => {
    codeSets = new CodeSets(releaseResources(readRelease(SEED_DIR)));
  });

  it('looks up CVX (zero-padded), MVX and NDC (any form) by map', () => {
    expect(codeSets.cvx('8')?.code).toBe('08');
    expect(codeSets.cvx('45')).toMatchObject({ status: 'Inactive', unspecified: true });
    expect(codeSets.mvx('pmc')?.display).toMatch(/sanofi/i);
    expect(codeSets.ndc('4928152100')?.cvx).toEqual(['161']);
    expect(codeSets.ndc('00000-0000-00')).toBeUndefined();
    expect(codeSets.counts).toMatchObject({ cvx: 288, mvx: 89, ndc: 1000 });
  });

  it('checks value-set membership: whole systems, property filters, NDC forms', () => {
    const all = codeSets.valueSet(VACCINE_CODES_VALUESET)!;
    expect(codeSets.checkInValueSet(all, 'http://hl7.org/fhir/sid/cvx', '208').result).toBe(true);
    expect(codeSets.checkInValueSet(all, 'http://hl7.org/fhir/sid/ndc', '49281-521-00')).toEqual({ result: true, display: 'FLUZONE QUADRIVALENT' });
    expect(codeSets.checkInValueSet(all, 'http://snomed.info/sct', '208').result).toBe(false);
    const active = codeSets.valueSetById('cvx-active')!;
    expect(codeSets.checkInValueSet(active, 'http://hl7.org/fhir/sid/cvx', '08').result).toBe(true);
    expect(codeSets.checkInValueSet(active, 'http://hl7.org/fhir/sid/cvx', '208').result).toBe(false);
    const inline = { resourceType: 'ValueSet' as const, status: 'active' as const, compose: { include: [{ system: 'http://hl7.org/fhir/sid/cvx', concept: [{ code: '08' }] }] } };
    expect(codeSets.checkInValueSet(inline, 'http://hl7.org/fhir/sid/cvx', '8').result).toBe(true);
    expect(codeSets.checkInValueSet(inline, 'http://hl7.org/fhir/sid/cvx', '03').result).toBe(false);
  });
});

describe('import planning', () => {
  it('an identical release changes nothing; a changed code is reported', () => {
    const release = readRelease(SEED_DIR);
    const resources = releaseResources(release);
    const current = new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r]));
    const same = planFromRelease({ ...release, files: ['cvx.xml', 'vac2vg.xml', 'mvx.xml', 'NDC_Unit_use.txt'] }, current);
    expect(same.writes).toEqual([]);

    const changed = release.cvx.map((c) => (c.code === '03' ? { ...c, status: 'Inactive' as const, lastUpdated: '2025-12-01' } : c));
    const plan = planFromRelease({ cvx: changed, files: ['cvx.xml', 'vac2vg.xml'] }, current);
    expect(plan.writes.map((w) => w.id)).toEqual(['cvx']);
    expect(plan.diffs[0]).toMatchObject({ name: 'CVX', added: [], retired: ['03'] });
    expect(plan.diffs[0]!.changed[0]!.what).toEqual(['status: Active → Inactive', 'lastUpdated: 2010-05-28 → 2025-12-01', 'inactive: false → true']);
  });

  it('a cvx.xml without vac2vg.xml keeps the vaccine groups the server has', () => {
    const release = readRelease(SEED_DIR);
    const current = new Map(releaseResources(release).map((r) => [`${r.resourceType}/${r.id}`, r]));
    const noGroups = release.cvx.map((c) => ({ ...c, groups: [] }));
    const plan = planFromRelease({ cvx: noGroups, files: ['cvx.xml'] }, current);
    expect(plan.writes).toEqual([]);
  });

  it('diffs a first import against nothing as all added', () => {
    const cs = cvxCodeSystem(readRelease(SEED_DIR).cvx);
    const d = diffResources(undefined, cs);
    expect(d.added).toHaveLength(288);
  });
});

describe('store sync', () => {
  let dir: string | undefined;
  let store: EmbeddedStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('seeds once, reloads on committed writes, and notices writes by another process', async () => {
    loadDefinitions();
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-sync-'));
    store = new EmbeddedStore({ dataDir: dir, indexes: EMBEDDED_INDEXES });
    await store.init();
    const a = new TerminologySync(store, new CodeSets(), { pollMs: 0 });
    const first = await a.start();
    expect(first.seeded).toEqual([
      'CodeSystem/cvx',
      'CodeSystem/mvx',
      'ConceptMap/ndc-unit-of-use-to-cvx',
      'ConceptMap/ndc-unit-of-sale-to-cvx',
      'ValueSet/vaccine-codes',
      'ValueSet/cvx-active',
    ]);
    expect((await a.start()).seeded).toEqual([]);
    expect(a.codeSets.cvx('08')).toBeDefined();

    // "another process": a second sync on the same store that does not see the write happen
    const b = new TerminologySync(store, new CodeSets(), { pollMs: 0 });
    await b.reload();
    expect(await b.reloadIfChangedElsewhere()).toBe(false);

    const observed = new ScopedStore(store, PUBLIC_HEALTH, a.onCommitted);
    const cvx = (await store.read('CodeSystem', 'cvx'))!.resource as CodeSystem;
    const updated: CodeSystem = { ...cvx, concept: [...(cvx.concept ?? []), { code: '9902', display: 'new' }] };
    await observed.write({ resourceType: 'CodeSystem', id: 'cvx', resource: updated, ifVersion: 'any', index: extractSearchIndex(updated) });
    expect(a.codeSets.cvx('9902')?.display).toBe('new'); // at once, in the writing process
    expect(b.codeSets.cvx('9902')).toBeUndefined();
    expect(await b.reloadIfChangedElsewhere()).toBe(true); // by the poll, elsewhere
    expect(b.codeSets.cvx('9902')?.display).toBe('new');
  });
});
