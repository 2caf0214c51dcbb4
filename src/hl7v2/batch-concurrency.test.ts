// A batch file run side by side (HL7V2_BATCH_CONCURRENCY 8) answers and stores exactly what the
// same file run one message at a time (HL7V2_BATCH_CONCURRENCY 1) does: the same ACKs and RSPs in
// the same order (but MSH-7/10 and record ids), and the same registry afterwards (Patients,
// Immunizations, Conditions, Consents, with their versions and review tags, ids and times aside).
// A file where one child comes back in several messages — the hospital's placeholder newborn then
// the clinic's legal name (no identifier in common: matching joins them), a dose then its deletion
// (RXA-21 D), a dose with a varicella history then its deletion (the Condition follows), twins, a
// VXU then a QBP for the child — interleaved with other children; and (fast-check) files drawn
// from a few children who share birth dates, surnames and dose numbers.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testMongoUrl, type TestServer } from '../../test/helpers/server.js';
import { controlId, hl7Date, msh, order, vxu } from './test-messages.js';

const SEQUENTIAL = 1;
const SIDE_BY_SIDE = 8;

async function postBatch(target: TestServer, messages: string[]): Promise<{ status: number; text: string }> {
  const stamp = `${hl7Date(0)}0830-0500`;
  const body = [`FHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${stamp}||batch.hl7||F-1`, `BHS|^~\\&|Test EHR Application|X68|IIS|IIS Facility|${stamp}||||B-1`, ...messages, `BTS|${messages.length}`, 'FTS|1'].join('\r');
  const res = await fetch(`${target.url}/hl7v2`, {
    method: 'POST',
    headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${target.token({ scope: 'user/*.cruds', organization: 'Organization/batch-clinic' })}` },
    body,
  });
  return { status: res.status, text: await res.text() };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** The answers of a batch answer in order, without MSH-7/10, the header's times and control ids, and record ids. */
function answersOf(text: string): string[] {
  const answers: string[][] = [];
  for (const s of text.split('\r')) {
    if (/^(FHS|BHS|BTS|FTS)(\||$)/.test(s)) continue;
    if (s.startsWith('MSH|')) answers.push([s.split('|').map((f, i) => (i === 6 || i === 9 ? '' : f)).join('|')]);
    else answers.at(-1)?.push(s);
  }
  return answers.map((a) => a.join('\r').replace(UUID, '(id)'));
}

/**
 * The registry as the FHIR API gives it, comparable between two servers: every Patient,
 * Immunization, Condition and Consent without its time of writing, each record id replaced by a
 * name made from the record's content (so two servers that stored the same thing name it the same).
 */
async function registry(target: TestServer): Promise<string[]> {
  const resources: any[] = [];
  for (const type of ['Patient', 'Immunization', 'Condition', 'Consent']) {
    const res = await target.fhir('GET', `${type}?_count=1000`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.entry?.length ?? 0).toBeLessThan(1000);
    for (const entry of res.body.entry ?? []) {
      const { id, meta, ...rest } = entry.resource;
      // A note's time is when the registry wrote it (a Condition withdrawn with its dose).
      if (Array.isArray(rest.note)) rest.note = rest.note.map((n: any) => ({ ...n, time: undefined }));
      resources.push({ id, text: JSON.stringify({ ...rest, meta: { ...meta, lastUpdated: undefined } }) });
    }
  }
  const names = new Map<string, string>();
  // Content without ids names a record; the rare equal contents get the same name (they are interchangeable).
  for (const r of resources) names.set(r.id, r.text.replace(UUID, '(id)'));
  return resources.map((r) => r.text.replace(UUID, (id: string) => `<${names.get(id) ?? 'unknown'}>`)).sort();
}

/** A PID with every matching field given (test-messages' pid() shares one address and phone between all children). */
interface Child {
  id: string;
  authority?: string;
  family: string;
  given: string;
  birth: string;
  phone?: string;
  street?: string;
  sex?: string;
  maiden?: string;
}
function pidOf(c: Child): string {
  return `PID|1||${c.id}^^^${c.authority ?? 'MYEHR'}^MR||${c.family}^${c.given}^^^^^L|${c.maiden ?? ''}|${c.birth}|${c.sex ?? 'F'}|||${c.street ?? ''}||${c.phone ? `^PRN^PH^^^617^${c.phone}` : ''}`;
}
function dose(c: Child, filler: string, options: { cvx?: string; days?: number; action?: 'A' | 'D'; facility?: string } = {}): string {
  return vxu({ facility: options.facility, controlId: controlId('BC'), pid: pidOf(c), orders: [order({ filler, cvx: options.cvx ?? '08', date: hl7Date(options.days ?? 10), action: options.action ?? 'A' })] });
}
function history(c: Child, filler: string, action: 'A' | 'D' = 'A'): string {
  const recorded = hl7Date(30);
  const obx = `OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F|||${recorded}`;
  return vxu({ controlId: controlId('BH'), pid: pidOf(c), orders: [order({ filler, cvx: '998', date: recorded, completion: 'NA', action, obx: [obx] })] });
}
function query(c: Child, profile: 'Z34' | 'Z44' = 'Z34'): string {
  const name = profile === 'Z44' ? 'Request Evaluated History and Forecast' : 'Request Immunization History';
  return [
    msh({ type: 'QBP^Q11^QBP_Q11', profile: `${profile}^CDCPHINVS`, controlId: controlId('BQ') }),
    `QPD|${profile}^${name}^CDCPHINVS|Q-${c.id}|${c.id}^^^${c.authority ?? 'MYEHR'}^MR|${c.family}^${c.given}^^^^^L||${c.birth}|${c.sex ?? 'F'}`,
    'RCP|I|10^RD&Records&HL70126',
  ].join('\r');
}

/** Letters only (digits in a name look like test data to the rules): a distinct surname per number. */
function syllables(n: number): string {
  const parts = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'be', 'da'];
  return String(n)
    .split('')
    .map((d) => parts[Number(d)])
    .join('');
}
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The scenario: one child in several messages, a deletion, a history, twins, queries, among others. */
function scenario(tag: string): string[] {
  const birth = hl7Date(40);
  // The same mother, home and phone: the clinic's record is a certain match of the hospital's.
  const family = { family: `Okafor${tag}`, birth, sex: 'M', maiden: 'Adeyemi^Ngozi^^^^^M', street: '4 Birch Rd^^Boston^MA^02110', phone: '5550100' };
  const placeholder: Child = { ...family, id: `${tag}-H1`, authority: 'GENHOSP', given: 'Baby Boy' };
  const legal: Child = { ...family, id: `${tag}-C1`, authority: 'CLINICEHR', given: 'Chidi' };
  const others: Child[] = Array.from({ length: 14 }, (_, i) => ({
    id: `${tag}-O${i}`,
    family: `${capital(syllables(i + 10))}${tag}`,
    given: ['Ada', 'Bea', 'Cleo', 'Dana', 'Eve', 'Fay', 'Gia'][i % 7],
    birth: hl7Date(400 + 37 * i),
    phone: String(5551000 + i),
    street: `${i + 1} Elm St^^Boston^MA^02110`,
  }));
  const [a, b, c, d, e, f, g, ...rest] = others;
  const twin1: Child = { id: `${tag}-T1`, family: `Lindqvist${tag}`, given: 'Maja', birth: hl7Date(700), phone: '5550900' };
  const twin2: Child = { ...twin1, id: `${tag}-T2`, given: 'Elsa' };
  return [
    // Side by side, the clinic's message could be stored first and the hospital's merged into it.
    dose(placeholder, `${tag}-H1-HEPB`, { days: 40, facility: 'HOSP-1' }),
    dose(legal, `${tag}-C1-DTAP`, { cvx: '20', days: 1, facility: 'CLINIC-7' }),
    dose(a, `${tag}-A-1`),
    dose(b, `${tag}-B-1`),
    dose(c, `${tag}-C-1`),
    dose(d, `${tag}-D-1`, { cvx: '20' }),
    dose(d, `${tag}-D-1`, { cvx: '20', action: 'D' }),
    dose(a, `${tag}-A-2`, { cvx: '20', days: 5 }),
    query(legal),
    history(e, `${tag}-E-H`),
    dose(twin1, `${tag}-T1-1`),
    dose(twin2, `${tag}-T2-1`),
    dose(f, `${tag}-F-1`),
    history(e, `${tag}-E-H`, 'D'),
    dose(a, `${tag}-A-1`, { action: 'D' }),
    query(d),
    ...rest.map((o, i) => dose(o, `${tag}-R-${i}`, { cvx: ['08', '20', '10'][i % 3] })),
    dose(g, `${tag}-G-1`),
    query(e, 'Z44'),
    dose(placeholder, `${tag}-H1-HEPB2`, { days: 3, facility: 'HOSP-1' }),
    query(a),
  ];
}

/** Two registries (sorted lists) are the same: what only one of them holds, shortened, is the failure's message. */
function expectSameRegistry(actual: string[], expected: string[]): void {
  const missing = expected.filter((r) => !actual.includes(r));
  const extra = actual.filter((r) => !expected.includes(r));
  const short = (list: string[]) => list.map((r) => r.slice(0, 1500));
  expect({ missing: short(missing), extra: short(extra) }).toEqual({ missing: [], extra: [] });
  expect(actual).toEqual(expected);
}

function sameOutcome(kind: 'embedded' | 'mongodb') {
  let sequential: TestServer;
  let sideBySide: TestServer;
  beforeAll(async () => {
    sequential = await startTestServer(kind, { hl7v2BatchConcurrency: SEQUENTIAL });
    sideBySide = await startTestServer(kind, { hl7v2BatchConcurrency: SIDE_BY_SIDE });
  });
  afterAll(async () => {
    await sequential?.close();
    await sideBySide?.close();
  });

  // FerretDB (the CI's MongoDB tier) answers far slower than the embedded store: fewer drawn files there.
  const slow = kind === 'mongodb';
  /** A MongoDB without transactions (FerretDB 1.x) stores no VXU (each is AR): nothing there depends on order. */
  const skipWithoutTransactions = (skip: () => void): void => {
    if (sequential.store.supportsTransactions) return;
    console.log(`[${kind}] batch side by side skipped: no multi-document transactions, so every VXU is answered AR and nothing is stored in any order`);
    skip();
  };
  it('one child in several messages among others: the same answers and the same registry', { timeout: slow ? 300_000 : 30_000 }, async (ctx) => {
    skipWithoutTransactions(() => ctx.skip());
    const messages = scenario('Qa');
    const one = await postBatch(sequential, messages);
    const many = await postBatch(sideBySide, messages);
    expect(many.status).toBe(one.status);
    const answers = answersOf(one.text);
    expect(answers).toHaveLength(messages.length);
    expect(answersOf(many.text)).toEqual(answers);
    expectSameRegistry(await registry(sideBySide), await registry(sequential));
    {
      // What the scenario is about happened (on both servers, as they are equal).
      expect(answers.filter((a) => !/\rMSA\|A[AE]\|/.test(a) && !a.includes('RSP^K11'))).toEqual([]);
      const legal = await sideBySide.fhir('GET', `Patient?identifier=${encodeURIComponent('https://iis-fhir-server.org/fhir/sid/hl7v2-authority/CLINICEHR|Qa-C1')}`);
      expect(legal.body.entry).toHaveLength(1);
      expect(legal.body.entry[0].resource.identifier.map((i: any) => i.value).sort()).toEqual(['Qa-C1', 'Qa-H1']);
      // The query after the clinic's message sees both doses; the one after D's deletion sees none.
      expect(answers[8]).toMatch(/RXA\|0\|1\|[^|]*\|[^|]*\|08\^/);
      expect(answers[8]).toMatch(/RXA\|0\|1\|[^|]*\|[^|]*\|20\^/);
      expect(answers[15]).not.toContain('\rRXA|');
    }
  });

  it('files drawn from a few children who share birth dates, surnames and dose numbers (property)', { timeout: slow ? 600_000 : 120_000 }, async (ctx) => {
    skipWithoutTransactions(() => ctx.skip());
    let round = 0;
    const births = [hl7Date(300), hl7Date(301), hl7Date(1200)];
    const op = fc.record({
      child: fc.integer({ min: 0, max: 5 }),
      kind: fc.constantFrom('dose', 'dose', 'dose', 'delete', 'query', 'history'),
      filler: fc.integer({ min: 0, max: 3 }),
      cvx: fc.constantFrom('08', '20', '10'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 14 }),
        fc.array(fc.record({ given: fc.constantFrom('Ana', 'Ada', 'Ben', 'Baby Girl'), birth: fc.integer({ min: 0, max: 2 }), sameFamily: fc.boolean(), phone: fc.boolean() }), { minLength: 6, maxLength: 6 }),
        async (ops, people) => {
          round += 1;
          const tag = `P${syllables(round)}`;
          const children: Child[] = people.map((p, i) => ({
            id: `${tag}-${i}`,
            authority: i % 2 ? 'OTHEREHR' : 'MYEHR',
            family: p.sameFamily ? `Marsh${tag}` : `${capital(syllables(i + 20))}${tag}`,
            given: p.given,
            birth: births[p.birth],
            phone: p.phone ? '5557000' : undefined,
          }));
          const messages = ops.map((o) => {
            const c = children[o.child];
            const filler = `${tag}-F${o.filler}`;
            if (o.kind === 'query') return query(c);
            if (o.kind === 'history') return history(c, filler);
            return dose(c, filler, { cvx: o.cvx, action: o.kind === 'delete' ? 'D' : 'A' });
          });
          const one = await postBatch(sequential, messages);
          const many = await postBatch(sideBySide, messages);
          expect(many.status).toBe(one.status);
          expect(answersOf(many.text)).toEqual(answersOf(one.text));
        }
      ),
      { numRuns: slow ? 6 : 30 }
    );
    expectSameRegistry(await registry(sideBySide), await registry(sequential));
  });
}

describe('batch file side by side = one at a time (embedded store)', () => sameOutcome('embedded'));

if (!testMongoUrl()) console.warn('[mongodb tier] batch side by side on MongoDB skipped: TEST_MONGODB_URL is not set');
describe.skipIf(!testMongoUrl())('batch file side by side = one at a time (MongoDB)', () => sameOutcome('mongodb'));
