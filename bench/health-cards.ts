// npm run bench:health-cards: issuing a SMART Health Card for a typical child with 20 doses (the
// US schedule to about 18 months: real CVX codes, lot numbers, a clinic as performer).
// Prints the JWS size (with its vc.rid; ≤ 1,195 characters fits one QR code), the time to build and sign a card in
// process, and POST /fhir/Patient/{id}/$health-cards-issue over loopback (p50/p99).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import type { Immunization, Patient } from '@medplum/fhirtypes';
import { cardContent } from '../src/health-cards/credential.js';
import { IssuerKeys } from '../src/health-cards/issuer-keys.js';
import { healthCardPayload, signHealthCard } from '../src/health-cards/jws.js';
import { RidSecret } from '../src/health-cards/rid.js';
import { MAX_SINGLE_QR_JWS } from '../src/health-cards/qr.js';
import { startServer } from '../src/server.js';

const RUNS = Number(process.env.BENCH_SHC_RUNS ?? '300');
const SECRET = 'bench-shc-secret';

// CVX code, age in days at the dose.
const SCHEDULE: Array<[string, number]> = [
  ['08', 0], ['08', 30], ['20', 61], ['49', 61], ['133', 61], ['10', 61], ['116', 61],
  ['20', 122], ['49', 122], ['133', 122], ['10', 122], ['116', 122],
  ['20', 183], ['133', 183], ['08', 183], ['141', 200],
  ['03', 365], ['21', 365], ['83', 365], ['49', 450],
];

function child(): { patient: Patient; doses: Immunization[] } {
  const birth = new Date('2023-04-11T00:00:00Z');
  const patient: Patient = {
    resourceType: 'Patient',
    id: 'bench-child',
    name: [{ use: 'official', family: 'Okafor-Lindqvist', given: ['Amara', 'Grace'] }],
    gender: 'female',
    birthDate: '2023-04-11',
  };
  const doses = SCHEDULE.map(([cvx, days], i): Immunization => ({
    resourceType: 'Immunization',
    id: `dose-${i}`,
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
    patient: { reference: 'Patient/bench-child' },
    occurrenceDateTime: new Date(birth.getTime() + days * 86_400_000).toISOString().slice(0, 10),
    lotNumber: `${cvx}K${(4711 + i * 37).toString(36).toUpperCase()}A`,
    performer: [{ actor: { display: 'Riverside Pediatrics' } }],
    primarySource: true,
  }));
  return { patient, doses };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-shc-'));
  try {
    const { patient, doses } = child();
    const keys = new IssuerKeys(dataDir);
    const key = await keys.signingKey();
    // Every card carries its revocation identifier (11 characters) since revocation exists.
    const rid = new RidSecret(dataDir).ridFor(key.kid, patient.id as string);
    const issueOnce = async () => {
      const content = cardContent(patient, doses, { baseUrl: 'https://iis.example.org/fhir' });
      return signHealthCard(healthCardPayload('https://iis.example.org', content.bundle, new Date(), rid), key);
    };
    const jws = await issueOnce();
    for (let i = 0; i < 50; i++) await issueOnce(); // warm-up
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await issueOnce();
      times.push(performance.now() - t0);
    }
    console.log(`typical child, 20 doses: JWS ${jws.length} characters (one QR code holds ${MAX_SINGLE_QR_JWS}: ${jws.length <= MAX_SINGLE_QR_JWS ? 'fits' : 'does NOT fit'})`);
    console.log(`build + deflate + sign in process: p50 ${pct(times, 0.5)} ms, p99 ${pct(times, 0.99)} ms (${RUNS} cards)`);

    // Over HTTP: the whole operation (token, access policy, store reads, audit) on the embedded store.
    const server = await startServer(
      { port: 0, publicBaseUrl: 'http://127.0.0.1:0', dataDir, bodyLimitBytes: 1024 * 1024, logLevel: 'silent', authJwtSecret: SECRET },
      {}
    );
    try {
      const fhir = `${server.url}/fhir`;
      const token = jwt.sign({ scope: 'system/*.cruds', sub: 'bench' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
      const created = await fetch(`${fhir}/Patient`, { method: 'POST', headers, body: JSON.stringify({ ...patient, id: undefined }) });
      const id = ((await created.json()) as { id: string }).id;
      for (const dose of doses) {
        const res = await fetch(`${fhir}/Immunization`, { method: 'POST', headers, body: JSON.stringify({ ...dose, id: undefined, patient: { reference: `Patient/${id}` } }) });
        if (res.status !== 201) throw new Error(`seed dose: ${res.status} ${await res.text()}`);
      }
      const body = JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'credentialType', valueUri: 'https://smarthealth.cards#immunization' }] });
      const http: number[] = [];
      let size = 0;
      for (let i = 0; i < Math.min(RUNS, 200); i++) {
        const t0 = performance.now();
        const res = await fetch(`${fhir}/Patient/${id}/$health-cards-issue`, { method: 'POST', headers, body });
        const answer = (await res.json()) as { parameter: Array<{ name: string; valueString?: string }> };
        http.push(performance.now() - t0);
        size = answer.parameter[0].valueString?.length ?? 0;
      }
      console.log(`POST $health-cards-issue over loopback (embedded store): p50 ${pct(http, 0.5)} ms, p99 ${pct(http, 0.99)} ms; JWS ${size} characters`);
    } finally {
      await server.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

function pct(list: number[], q: number): string {
  const sorted = [...list].sort((a, b) => a - b);
  return (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
