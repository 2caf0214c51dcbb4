// npm run bench:vxu-engine: the matching and validation work of bench/hl7v2.ts's open loop, in a
// hot loop, in process. A server (embedded store, temp DATA_DIR) is fed VXU_ENGINE_WARMUP messages
// (default 2,900: what precedes bench/hl7v2.ts's open loop at BENCH_SCALE=0.3) through POST /soap;
// the next VXU_ENGINE_INPUTS messages (default 900, the open loop's: most meet a probable match,
// bench/vxu-messages.ts) are read into their Patients and Immunizations without being sent, and
//   - the matching of each new child's create runs over them VXU_ENGINE_ROUNDS times (default 5):
//     findMatches(store, patient), then what is stored — markForReview with the probable matches,
//     matchKeysOf of the record stored (a further dose updates its child: no matching);
//   - validateResource runs over the Patient and the Immunizations as many times;
// printed: this process's CPU per input (lowest and median round), and a sha256 of every decision
// (candidates named by MRN and name, grades, scores, reasons) and every validation issue. The
// messages are the same in every run (their choice of a child for a further dose is seeded).
// VXU_ENGINE_BASE=DIR names another build (its dist/ or src/, e.g. main's in a second worktree):
// its findMatches and validateResource run in rounds alternated with this build's, over the same
// store and inputs, and a difference in their answers is printed. VXU_ENGINE_ONLY=match|validate,
// VXU_ENGINE_DUMP=FILE (the answers as text). VXU_ENGINE_SHARED=1 calls findMatches as decideIngest does
// (`shared`: the answer's records are only read; a build without the option ignores it).
//   [BENCH_DIST=1] npm run bench:vxu-engine   (VXU_ENGINE_BASE=/work/wt/x/dist ...)
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Immunization, Patient } from '@medplum/fhirtypes';
import type * as ConfigModule from '../src/config.js';
import type * as OpenStoreModule from '../src/app/open-store.js';
import type * as ServerModule from '../src/server.js';
import type * as CandidatesModule from '../src/matching/candidates.js';
import type * as IngestModule from '../src/matching/ingest.js';
import type * as Er7Module from '../src/hl7v2/er7.js';
import type * as VxuToFhirModule from '../src/hl7v2/vxu-to-fhir.js';
import type * as ValidateModule from '../src/validation/validate-resource.js';
import { nextMessage, SECRET, sent, submitVxus } from './vxu-messages.js';
import { prng } from './prng.js';

const WARM_UP = Number(process.env.VXU_ENGINE_WARMUP ?? '2900');
const INPUTS = Number(process.env.VXU_ENGINE_INPUTS ?? '900');
const ROUNDS = Number(process.env.VXU_ENGINE_ROUNDS ?? '5');
const ONLY = process.env.VXU_ENGINE_ONLY; // 'match' | 'validate'
const SHARED = process.env.VXU_ENGINE_SHARED === '1';

function threadCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}


/** The next bench message, its choice of a child for a further dose drawn from a seeded PRNG: the same in every run. */
const messageRandom = prng(20261207);
function nextSeededMessage(): string {
  const random = Math.random;
  Math.random = messageRandom;
  try {
    return nextMessage();
  } finally {
    Math.random = random;
  }
}

async function main(): Promise<void> {
  const root = process.env.BENCH_DIST === '1' ? '../dist' : '../src';
  const { loadConfig } = (await import(`${root}/config.js`)) as typeof ConfigModule;
  const { createStore } = (await import(`${root}/app/open-store.js`)) as typeof OpenStoreModule;
  const { startServer } = (await import(`${root}/server.js`)) as typeof ServerModule;
  const { findMatches, matchKeysOf } = (await import(`${root}/matching/candidates.js`)) as typeof CandidatesModule;
  const { markForReview } = (await import(`${root}/matching/ingest.js`)) as typeof IngestModule;
  const { parseMessage } = (await import(`${root}/hl7v2/er7.js`)) as typeof Er7Module;
  const { readVxu } = (await import(`${root}/hl7v2/vxu-to-fhir.js`)) as typeof VxuToFhirModule;
  const { validateResource } = (await import(`${root}/validation/validate-resource.js`)) as typeof ValidateModule;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-bench-vxu-engine-'));
  const config = { ...loadConfig({ ...process.env, DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', PORT: '0', VALIDATION_WORKERS: '0' }), port: 0 };
  const store = await createStore(config);
  const running = await startServer(config, { store });
  const url = `${running.url}/soap`;
  try {
    await submitVxus(url, WARM_UP, 1, nextSeededMessage);
    await running.audit.flush();
    const patients: Patient[] = [];
    const newChildren: Patient[] = [];
    const doses: Immunization[] = [];
    for (let i = 0; i < INPUTS; i++) {
      const children = sent.length;
      const content = readVxu(parseMessage(nextSeededMessage(), { maxBytes: 1_000_000 }), { organization: 'Organization/bench-pharmacy' });
      patients.push(content.patient);
      if (sent.length > children) newChildren.push(content.patient);
      for (const d of content.doses) doses.push({ ...d.immunization, patient: { reference: 'Patient/p1' } });
    }
    // VXU_ENGINE_BASE=DIR (another build's dist/ or src/): its findMatches and validateResource run
    // too, in rounds alternated with this build's over the same store, and their answers compared.
    const builds: Array<{
      label: string;
      findMatches: typeof findMatches;
      matchKeysOf: typeof matchKeysOf;
      markForReview: typeof markForReview;
      validateResource: typeof validateResource;
    }> = [{ label: 'this build', findMatches, matchKeysOf, markForReview, validateResource }];
    const base = process.env.VXU_ENGINE_BASE;
    if (base) {
      builds.push({
        label: `base ${base}`,
        ...((await import(path.resolve(base, 'matching/candidates.js'))) as typeof CandidatesModule),
        markForReview: ((await import(path.resolve(base, 'matching/ingest.js'))) as typeof IngestModule).markForReview,
        validateResource: ((await import(path.resolve(base, 'validation/validate-resource.js'))) as typeof ValidateModule).validateResource,
      });
    }
    const answers = builds.map(() => ({ hash: createHash('sha256'), dump: [] as string[] }));
    const answer = (b: number, text: string) => {
      answers[b].hash.update(text);
      if (process.env.VXU_ENGINE_DUMP) answers[b].dump.push(text);
    };
    const profiled = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
    const measure = async (name: string, inputs: number, run: (b: number, first: boolean, round: number) => Promise<void>) => {
      const windowStart = process.hrtime.bigint() / 1000n;
      const perRound = builds.map(() => [] as number[]);
      for (let r = 0; r < ROUNDS; r++) {
        for (let b = 0; b < builds.length; b++) {
          const t = threadCpuUs();
          await run(b, r === 0, r);
          perRound[b].push((threadCpuUs() - t) / inputs);
        }
      }
      if (profiled) console.log(`${name} profile window (monotonic µs): ${windowStart} ${process.hrtime.bigint() / 1000n}`);
      builds.forEach((build, b) => {
        const sorted = [...perRound[b]].sort((x, y) => x - y);
        console.log(`${name}, ${build.label}: µs CPU per input lowest ${sorted[0].toFixed(1)}, median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} (${ROUNDS} rounds over ${inputs})`);
      });
    };
    if (ONLY !== 'validate') {
      const counts = { read: 0, parsed: 0, known: 0 };
      let listed = 0;
      // Fresh objects each round and build, made before timing: features are kept per object.
      const copies = builds.map(() => Array.from({ length: ROUNDS }, () => newChildren.map((p) => structuredClone(p))));
      await measure('matching of a new child (findMatches, markForReview, matchKeysOf)', newChildren.length, async (b, first, round) => {
        const build = builds[b];
        for (const p of copies[b][round]) {
          // VXU_ENGINE_SHARED=1: as decideIngest calls it (the answer's records only read: the cache's own).
          const ranked = await build.findMatches(store, p, { ...(first && b === 0 ? { counts } : {}), ...(SHARED ? { shared: true } : {}) });
          const probable = ranked.filter((c) => c.decision.grade === 'probable' || c.decision.grade === 'certain');
          const keys = build.matchKeysOf(probable.length > 0 ? build.markForReview(p, probable) : p);
          if (first) {
            if (b === 0) listed += ranked.length;
            // Record ids are random and MRNs carry the pid (taken out): a candidate is named by its MRN and name.
            answer(b, JSON.stringify([ranked.map((c) => [c.patient.identifier, c.patient.name, c.decision]), keys]).replaceAll(String(process.pid), 'PID'));
          }
        }
      });
      const n = newChildren.length;
      console.log(`  ${n} new children: ${(listed / n).toFixed(2)} listed, ${(counts.read / n).toFixed(1)} records read, ${(counts.parsed / n).toFixed(1)} parsed per input, features known for ${(counts.known / n).toFixed(1)} (first round)`);
    }
    if (ONLY !== 'match') {
      await measure('validateResource (Patient + Immunization)', patients.length, async (b, first) => {
        for (let i = 0; i < patients.length; i++) {
          const x = builds[b].validateResource(patients[i]);
          const y = builds[b].validateResource(doses[i]);
          if (first) answer(b, JSON.stringify([x, y]));
        }
      });
    }
    if (process.env.VXU_ENGINE_DUMP) await writeFile(process.env.VXU_ENGINE_DUMP, answers[0].dump.join('\n') + '\n');
    const digests = answers.map((a) => a.hash.digest('hex'));
    if (digests.some((d) => d !== digests[0])) console.log(`ANSWERS DIFFER between the builds: ${digests.join(' ')}`);
    const hash = { digest: () => digests[0] };
    console.log(`answers sha256 ${hash.digest()}; load ${os.loadavg()[0].toFixed(2)}`);
  } finally {
    await running.close();
    await store.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
