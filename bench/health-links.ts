// npm run bench:health-links: the manifest request of a SMART Health Link (POST /shl/{id}, no token)
// for a typical child with 20 doses, over loopback on the embedded store: a snapshot link, a
// snapshot with a passcode (scrypt check under the link's lock), a long-term link (the card
// re-issued through the pipeline at each request), and a file fetched through its single-use
// location. Prints p50/p99 per kind and the sizes of the manifest's files.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { decodeShlink } from '../src/health-cards/shlink.js';
import { startServer } from '../src/server.js';

const RUNS = Number(process.env.BENCH_SHL_RUNS ?? '200');
const SECRET = 'bench-shl-secret';
const SCHEDULE = ['08', '08', '20', '49', '133', '10', '116', '20', '49', '133', '10', '116', '20', '133', '08', '141', '03', '21', '83', '49'];

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-shl-'));
  // The manifest URL names PUBLIC_BASE_URL, so the server listens on a port known beforehand.
  const port = await freePort();
  const server = await startServer({ port, publicBaseUrl: `http://127.0.0.1:${port}`, dataDir, bodyLimitBytes: 1024 * 1024, logLevel: 'silent', authJwtSecret: SECRET }, {});
  try {
    const fhir = `${server.url}/fhir`;
    const token = jwt.sign({ scope: 'system/*.cruds', sub: 'bench' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
    const created = await fetch(`${fhir}/Patient`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Okafor-Lindqvist', given: ['Amara', 'Grace'] }], gender: 'female', birthDate: '2023-04-11' }),
    });
    const id = ((await created.json()) as { id: string }).id;
    for (const [i, cvx] of SCHEDULE.entries()) {
      const dose = {
        resourceType: 'Immunization',
        status: 'completed',
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
        patient: { reference: `Patient/${id}` },
        occurrenceDateTime: new Date(Date.parse('2023-04-11') + i * 20 * 86_400_000).toISOString().slice(0, 10),
        lotNumber: `${cvx}K${(4711 + i * 37).toString(36).toUpperCase()}A`,
        performer: [{ actor: { display: 'Riverside Pediatrics' } }],
        primarySource: true,
      };
      const res = await fetch(`${fhir}/Immunization`, { method: 'POST', headers, body: JSON.stringify(dose) });
      if (res.status !== 201) throw new Error(`seed dose: ${res.status} ${await res.text()}`);
    }

    const makeLink = async (parameter: unknown[]) => {
      const res = await fetch(`${fhir}/Patient/${id}/$health-link-create`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Parameters', parameter }) });
      const body = (await res.json()) as { parameter: Array<{ name: string; valueString?: string }> };
      if (res.status !== 200) throw new Error(`create: ${res.status} ${JSON.stringify(body)}`);
      return decodeShlink(body.parameter.find((p) => p.name === 'shlink')?.valueString ?? '')!;
    };
    const manifest = async (url: string, request: unknown) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
      const body = (await res.json()) as { files: Array<{ contentType: string; embedded?: string; location?: string }> };
      if (res.status !== 200) throw new Error(`manifest: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    const measure = async (label: string, runs: number, once: () => Promise<unknown>) => {
      for (let i = 0; i < 10; i++) await once(); // warm-up
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await once();
        times.push(performance.now() - t0);
      }
      console.log(`${label}: p50 ${pct(times, 0.5)} ms, p99 ${pct(times, 0.99)} ms (${runs} requests)`);
    };

    const snapshot = await makeLink([]);
    const first = await manifest(snapshot.url, { recipient: 'bench' });
    console.log(`20-dose child: manifest files ${first.files.map((f) => `${f.contentType} JWE ${f.embedded?.length} characters`).join(', ')}`);
    await measure('POST manifest, snapshot link (embedded files)', RUNS, () => manifest(snapshot.url, { recipient: 'bench' }));
    const withPasscode = await makeLink([{ name: 'passcode', valueString: 'bench-passcode' }]);
    await measure('POST manifest, snapshot link with passcode (scrypt N=2^14)', Math.min(RUNS, 100), () => manifest(withPasscode.url, { recipient: 'bench', passcode: 'bench-passcode' }));
    const longTerm = await makeLink([{ name: 'longTerm', valueBoolean: true }]);
    await measure('POST manifest, long-term link (card re-issued and signed each time)', RUNS, () => manifest(longTerm.url, { recipient: 'bench' }));
    await measure('POST manifest with embeddedLengthMax 0 + GET both locations', Math.min(RUNS, 100), async () => {
      const answer = await manifest(snapshot.url, { recipient: 'bench', embeddedLengthMax: 0 });
      for (const file of answer.files) {
        const res = await fetch(file.location as string);
        if (res.status !== 200) throw new Error(`location: ${res.status}`);
        await res.text();
      }
    });
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
    probe.on('error', reject);
  });
}

function pct(list: number[], q: number): string {
  const sorted = [...list].sort((a, b) => a - b);
  return (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
