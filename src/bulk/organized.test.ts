// organizeOutputBy=Patient over real HTTP, on each store: files of patient blocks (a header
// Parameters naming the patient, the Patient, then their resources), a patient never split across
// files, files rotated between patients at BULK_FILE_MAX_LINES, the organized manifest, and the
// data-sharing rules of every export.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { distinctPatient, download, exportAll, kickoff, resourcesOf, sharingConsent, tokenFor, vaccination, withEnv, type Manifest } from './test-helpers.js';

const kinds: StoreKind[] = testMongoUrl() ? ['embedded', 'mongodb'] : ['embedded'];
if (!testMongoUrl()) console.warn('[bulk export organized] MongoDB tier SKIPPED: set TEST_MONGODB_URL (e.g. a FerretDB from scripts/ferretdb.sh) to run it');

const PUBLIC_HEALTH = tokenFor({ scope: 'system/*.rs' });
const ORG_C = tokenFor({ sub: 'clinic-c', scope: 'user/*.rs', organization: 'Organization/C' });
const MAX_LINES = 7;

interface Block {
  patient: string;
  resources: any[];
}

/** Every file of the manifest as its blocks; checks each line belongs to the block it is in. */
async function blocksOf(manifest: Manifest, token: string): Promise<Block[][]> {
  const files: Block[][] = [];
  for (const o of manifest.output) {
    const { status, lines } = await download(o.url, token);
    expect(status).toBe(200);
    expect(lines.length).toBe(o.count);
    const blocks: Block[] = [];
    for (const line of lines) {
      if (line.resourceType === 'Parameters') {
        expect(line.parameter).toHaveLength(1);
        expect(line.parameter[0].name).toBe('header');
        const m = /^Patient\/(.+)$/.exec(line.parameter[0].valueReference.reference);
        expect(m).not.toBeNull();
        blocks.push({ patient: m![1], resources: [] });
        continue;
      }
      const block = blocks[blocks.length - 1];
      expect(block, 'a file starts with a header').toBeDefined();
      const owner = line.resourceType === 'Patient' ? line.id : /Patient\/(.+)$/.exec((line.patient ?? line.subject).reference)?.[1];
      expect(owner).toBe(block.patient);
      if (line.resourceType === 'Patient') expect(block.resources, 'the Patient comes first').toEqual([]);
      block.resources.push(line);
    }
    files.push(blocks);
  }
  return files;
}

for (const kind of kinds) {
  describe(`bulk export organizeOutputBy=Patient (${kind})`, { timeout: kind === 'mongodb' ? 120_000 : 30_000 }, () => {
    let server: TestServer;
    const P: string[] = [];
    const imms: Record<string, string[]> = {};

    const create = async (body: Record<string, unknown>) => {
      const res = await server.fhir('POST', body.resourceType as string, { body });
      expect(res.status, res.text).toBe(201);
      return res.body.id as string;
    };

    beforeAll(async () => {
      server = await withEnv({ BULK_FILE_MAX_LINES: String(MAX_LINES), BULK_POLL_SECONDS: '0.2' }, () => startTestServer(kind));
      // 0..5 immunizations per patient: blocks of 2..7 lines (header + Patient + immunizations)
      const counts = [3, 0, 5, 1, 2, 4, 1, 2];
      for (let i = 0; i < counts.length; i++) {
        const id = await create(distinctPatient(700 + i));
        P.push(id);
        imms[id] = [];
        for (let k = 0; k < counts[i]; k++) imms[id].push(await create(vaccination(id, k % 2 ? '08' : '20')));
      }
      await create(sharingConsent(P[2], { provision: { type: 'deny' } })); // No
      await create(sharingConsent(P[5], { status: 'proposed', provision: { type: 'deny' } })); // Unknown
    });

    afterAll(async () => {
      await server?.close();
    });

    it('files of whole patient blocks, rotated between patients; the manifest is organized; the same resources as a plain export', async () => {
      const { manifest } = await exportAll(server.baseUrl, 'Patient/$export?organizeOutputBy=Patient&_type=Patient,Immunization', { token: PUBLIC_HEALTH });
      const raw = manifest as unknown as Record<string, any>;
      expect(raw.outputOrganizedBy).toBe('Patient');
      expect(manifest.output.length).toBeGreaterThan(1);
      for (const o of manifest.output) expect(Object.keys(o).sort()).toEqual(['count', 'url']);
      const files = await blocksOf(manifest, PUBLIC_HEALTH);
      const headers = files.flat().map((b) => b.patient);
      expect(headers.length).toBe(new Set(headers).size); // a patient is never in two files (nor twice in one)
      expect(headers).toEqual([...headers].sort()); // patients in id order (the resume order)
      for (const p of P) expect(headers).toContain(p);
      for (const [i, blocks] of files.entries()) {
        const lines = manifest.output[i].count;
        // rotated between patients: over the limit only when one block alone is
        if (lines > MAX_LINES) expect(blocks).toHaveLength(1);
        // and the next file's first block would not have fitted
        if (i + 1 < files.length) expect(lines + files[i + 1][0].resources.length + 1).toBeGreaterThan(MAX_LINES);
      }
      for (const b of files.flat()) {
        expect(b.resources[0].resourceType).toBe('Patient');
        expect(b.resources.slice(1).map((r) => r.id).sort()).toEqual([...imms[b.patient]].sort());
      }
      const plain = await exportAll(server.baseUrl, 'Patient/$export?_type=Patient,Immunization', { token: PUBLIC_HEALTH });
      const plainIds = [...(await resourcesOf(plain.manifest, 'Patient', PUBLIC_HEALTH)), ...(await resourcesOf(plain.manifest, 'Immunization', PUBLIC_HEALTH))].map((r) => r.id).sort();
      expect(files.flat().flatMap((b) => b.resources.map((r) => r.id)).sort()).toEqual(plainIds);
    });

    it('an organization caller gets no block, and no resource, of a patient whose data sharing is No or Unknown', async () => {
      const { manifest } = await exportAll(server.baseUrl, '$export?organizeOutputBy=Patient', { token: ORG_C });
      const blocks = (await blocksOf(manifest, ORG_C)).flat();
      const seen = blocks.map((b) => b.patient);
      expect(seen).not.toContain(P[2]);
      expect(seen).not.toContain(P[5]);
      expect(seen).toContain(P[0]);
      const all = blocks.flatMap((b) => b.resources);
      for (const r of all) expect([`Patient/${P[2]}`, `Patient/${P[5]}`]).not.toContain(r.resourceType === 'Patient' ? `Patient/${r.id}` : (r.patient ?? r.subject).reference);
      // system level: only the Patient compartment's types
      expect([...new Set(all.map((r) => r.resourceType))].every((t) => ['Patient', 'Immunization', 'Consent', 'Condition'].includes(t))).toBe(true);
    });

    it('_type without Patient: blocks of a header and the patient’s resources; patients with none get no block; _since keeps only changed resources', async () => {
      const { manifest } = await exportAll(server.baseUrl, 'Patient/$export?organizeOutputBy=Patient&_type=Immunization', { token: PUBLIC_HEALTH });
      const blocks = (await blocksOf(manifest, PUBLIC_HEALTH)).flat();
      expect(blocks.map((b) => b.patient)).not.toContain(P[1]); // no immunizations
      for (const b of blocks) expect(b.resources.every((r) => r.resourceType === 'Immunization')).toBe(true);
      const since = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
      const added = await create(vaccination(P[1], '08'));
      const later = await exportAll(server.baseUrl, `Patient/$export?organizeOutputBy=Patient&_since=${encodeURIComponent(since)}`, { token: PUBLIC_HEALTH });
      const changed = (await blocksOf(later.manifest, PUBLIC_HEALTH)).flat();
      expect(changed.map((b) => [b.patient, b.resources.map((r) => r.id)])).toEqual([[P[1], [added]]]);
      expect(later.manifest.deleted).toEqual([]);
    });

    it('bad values: 400 naming the parameter, or dropped with a warning under handling=lenient', async () => {
      for (const q of ['organizeOutputBy=Encounter', 'organizeOutputBy=Patient&organizeOutputBy=Patient', 'organizeOutputBy=Patient&_type=Organization']) {
        const k = await kickoff(server.baseUrl, `$export?${q}`, { token: PUBLIC_HEALTH });
        expect(k.status, q).toBe(400);
        expect(k.body.issue[0].severity).toBe('error');
      }
      const lenient = await kickoff(server.baseUrl, '$export?organizeOutputBy=Group&_type=Patient', { token: PUBLIC_HEALTH, headers: { prefer: 'respond-async, handling=lenient' } });
      expect(lenient.status).toBe(202);
      expect(lenient.body.issue.filter((i: any) => i.severity === 'warning').map((i: any) => i.expression[0])).toEqual(['organizeOutputBy']);
    });
  });
}
