// `npm run health-cards` (scripts/health-cards.ts):
//   rotate-key                               a new signing key in DATA_DIR (older ones stay published)
//   revoke --patient ID [--before INSTANT]   revokes the patient's cards issued before INSTANT (default now)
// revoke goes through the running server's $health-cards-revoke when one answers at --url (default
// PUBLIC_BASE_URL), with a public-health token signed by the server key in DATA_DIR (as the users
// CLI does), so the request is checked and audited like any other; with no server running (or
// --direct) it opens the store itself (the embedded store allows one process at a time), writes
// the revocation lists and records the same AuditEvent.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Parameters } from '@medplum/fhirtypes';
import { createStore } from '../app/open-store.js';
import { AuditLog } from '../audit/audit-log.js';
import { operatorToken } from '../auth/operator-token.js';
import type { Config } from '../config.js';
import { createLogger } from '../logger.js';
import type { Store } from '../store/store.js';
import { HealthCardIssuer } from './issuer.js';
import { rotateIssuerKey } from './issuer-keys.js';
import { revocationAnswer } from './revoke.js';

export const HEALTH_CARDS_USAGE = `usage:
  npm run health-cards -- rotate-key [--data-dir DIR]
  npm run health-cards -- revoke --patient ID [--before INSTANT]
options: --url <server> (default PUBLIC_BASE_URL); --direct (open the store, no server); --data-dir DIR (default DATA_DIR)`;

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export async function runHealthCardsCli(argv: string[], config: Config, io: CliOutput, openStore: (c: Config) => Promise<Store> = createStore): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let command: string | undefined;
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        patient: { type: 'string' },
        before: { type: 'string' },
        url: { type: 'string' },
        direct: { type: 'boolean' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    values = parsed.values;
    command = parsed.positionals[0];
  } catch (err) {
    io.err(`${(err as Error).message}\n${HEALTH_CARDS_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(HEALTH_CARDS_USAGE);
    return 0;
  }
  const cfg: Config = typeof values['data-dir'] === 'string' ? { ...config, dataDir: values['data-dir'] } : config;
  if (command === 'rotate-key') {
    const kid = await rotateIssuerKey(cfg.dataDir);
    io.out(`new health card signing key ${kid} in ${cfg.dataDir}; older keys stay published`);
    return 0;
  }
  if (command !== 'revoke' || typeof values.patient !== 'string' || values.patient === '') {
    io.err(command === 'revoke' ? `revoke needs --patient ID\n${HEALTH_CARDS_USAGE}` : HEALTH_CARDS_USAGE);
    return 2;
  }
  const body: Parameters = { resourceType: 'Parameters', parameter: typeof values.before === 'string' ? [{ name: 'before', valueInstant: values.before }] : [] };
  const base = typeof values.url === 'string' ? values.url.replace(/\/+$/, '') : cfg.publicBaseUrl.replace(/\/+$/, '');
  const served = values.direct ? false : await serverAnswers(base);
  if (!served && typeof values.url === 'string') {
    io.err(`No server answers at ${base}`);
    return 1;
  }
  const res = served ? await revokeOverHttp(cfg, base, values.patient, body) : await revokeDirectly(cfg, values.patient, body, openStore);
  if (res.status >= 400) {
    io.err(`error ${res.status}: ${describe(res.body)}`);
    return 1;
  }
  const answer = res.body as Parameters;
  const before = answer.parameter?.find((p) => p.name === 'before')?.valueInstant;
  io.out(`health cards of Patient/${values.patient} issued before ${before} are revoked`);
  for (const list of answer.parameter?.filter((p) => p.name === 'revocationList') ?? []) {
    const part = (name: string) => list.part?.find((p) => p.name === name);
    io.out(`  key ${part('kid')?.valueString}: ${part('entry')?.valueString}, crlVersion ${part('crlVersion')?.valueInteger}${part('changed')?.valueBoolean ? '' : ' (already revoked)'}`);
  }
  return 0;
}

async function serverAnswers(base: string): Promise<boolean> {
  try {
    return (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

async function revokeOverHttp(config: Config, base: string, patientId: string, body: Parameters): Promise<{ status: number; body: unknown }> {
  const token = await operatorToken(config, 'system/Patient.rus system/Immunization.rus');
  const res = await fetch(`${base}/fhir/Patient/${encodeURIComponent(patientId)}/$health-cards-revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** No server: the store opened here; the same checks on the input, the same AuditEvent. */
async function revokeDirectly(config: Config, patientId: string, body: Parameters, openStore: (c: Config) => Promise<Store>): Promise<{ status: number; body: unknown }> {
  const before = body.parameter?.[0]?.valueInstant;
  const when = before === undefined ? new Date() : new Date(Date.parse(before));
  if (before !== undefined && (Number.isNaN(when.getTime()) || !/T.*(Z|[+-]\d{2}:\d{2})$/.test(before))) {
    return { status: 400, body: `--before needs an instant with a time zone, e.g. 2026-12-01T00:00:00Z` };
  }
  if (when.getTime() > Date.now()) return { status: 400, body: `--before ${before} is in the future: only cards already issued can be revoked` };
  const store = await openStore(config);
  await store.init();
  const fhirBase = `${config.publicBaseUrl}/fhir`;
  const audit = new AuditLog({ store, logger: createLogger('warn'), serverUrl: fhirBase, dataDir: config.dataDir });
  const caller = { sub: `cli:${process.env.USER ?? 'operator'}`, clientId: 'iis-cli', scopes: [], scope: 'system/Patient.rus system/Immunization.rus' };
  const record = (status: number) =>
    audit.recordAccess({ caller, interaction: 'operation', operation: 'health-cards-revoke', resourceType: 'Patient', id: patientId, patientRefs: [`Patient/${patientId}`], outcome: status, requestId: randomUUID() });
  try {
    const patient = await store.read('Patient', patientId);
    if (!patient) {
      record(404);
      return { status: 404, body: `Patient/${patientId} is not known to this server` };
    }
    const issuer = new HealthCardIssuer(config, store);
    const revoked = await issuer.revokePatient(patientId, when);
    record(200);
    return {
      status: 200,
      body: revocationAnswer(revoked),
    };
  } finally {
    await audit.close();
    await store.close();
  }
}

function describe(body: unknown): string {
  const issues = (body as { issue?: Array<{ diagnostics?: string; details?: { text?: string } }> } | undefined)?.issue;
  if (issues?.length) return issues.map((i) => i.diagnostics ?? i.details?.text).join('; ');
  return typeof body === 'string' ? body : JSON.stringify(body);
}
