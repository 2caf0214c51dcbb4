// The VXU^V04 messages the HL7 v2 benches send (bench/hl7v2.ts, bench/hl7v2-ab.ts), as SOAP
// envelopes: each a new child with one dose, or (one in five) a further dose for a child already
// sent, so matching, the data-quality rules, the transaction and the audit trail all run.
import http from 'node:http';
import { XMLBuilder } from 'fast-xml-parser';
import jwt from 'jsonwebtoken';

/** The JWT secret the bench's server is started with (AUTH_JWT_SECRET). */
export const SECRET = 'bench-secret';
const TOKEN = jwt.sign({ scope: 'user/*.cruds', organization: 'Organization/bench-pharmacy' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
const CVX = ['08', '20', '10', '03', '21', '83', '133', '116', '141', '115', '62'];
const FAMILIES = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson'];
const GIVEN = ['Olivia', 'Liam', 'Emma', 'Noah', 'Amelia', 'Oliver', 'Ava', 'Elijah', 'Sophia', 'Lucas', 'Mia', 'Levi', 'Isabella', 'Mateo', 'Evelyn'];

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_' });

/**
 * Birth dates cycle over this many days (BENCH_HL7_BIRTH_DAYS, default 3,000). From message 3,001
 * on, a new child shares its birth date, given name and sex with the child sent 3,000 messages
 * before, so matching finds a probable candidate for it (compared, ranked, marked for review): in
 * bench/hl7v2.ts that is most of the open loop's messages (after 2,000 warm-up and 900 closed-loop
 * ones at BENCH_SCALE=0.3) and none of the closed loop's. A cycle longer than the run (6000 at
 * BENCH_SCALE=0.3: 3,800 messages) gives both loops the same work per message.
 */
const BIRTH_DAYS = Number(process.env.BENCH_HL7_BIRTH_DAYS ?? '3000');

/**
 * One message in this many is a further dose for a child already sent (BENCH_HL7_FURTHER_EVERY,
 * default 5, the benches' workload): 1 makes every message after the first 50 a further dose (an
 * A/B of what only further doses do, e.g. the Patient step of an unchanged child).
 */
const FURTHER_EVERY = Number(process.env.BENCH_HL7_FURTHER_EVERY ?? '5');

let sequence = 0;
/** The children sent so far (one message in five is a further dose for one of them). */
export const sent: Array<{ mrn: string; family: string; given: string; birth: string; street: string; maiden: string; phone: string; sex: string }> = [];

/** A distinct, letters-only surname suffix per child (digits would look like test data to the rules). */
function syllables(n: number): string {
  const parts = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'be', 'da'];
  return String(n)
    .split('')
    .map((d) => parts[Number(d)])
    .join('');
}

function hl7Date(daysAgo: number): string {
  return new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
}

export function nextMessage(): string {
  sequence += 1;
  const again = sent.length > 50 && sequence % FURTHER_EVERY === 0;
  const child = again
    ? sent[Math.floor(Math.random() * sent.length)]
    : {
        mrn: `B-${process.pid}-${sequence}`,
        family: `${FAMILIES[sequence % FAMILIES.length]}${syllables(sequence)}`,
        given: GIVEN[(sequence * 7) % GIVEN.length],
        birth: hl7Date(200 + (sequence % BIRTH_DAYS)),
        street: `${sequence} ${FAMILIES[(sequence * 11) % FAMILIES.length]} St`,
        maiden: `${FAMILIES[(sequence * 3) % FAMILIES.length]}${String.fromCharCode(65 + (sequence % 23))}`,
        phone: String(1000000 + sequence).padStart(7, '0'),
        sex: sequence % 2 ? 'F' : 'M',
      };
  if (!again) sent.push(child);
  const cvx = CVX[sequence % CVX.length];
  return [
    `MSH|^~\\&|BenchRx|PHARM-BENCH|IIS|IIS|${hl7Date(0)}120000-0500||VXU^V04^VXU_V04|BENCH-${sequence}|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS`,
    `PID|1||${child.mrn}^^^BENCHRX^MR||${child.family}^${child.given}^^^^^L|${child.maiden}^Jane^^^^^M|${child.birth}|${child.sex}|||${child.street}^^Boston^MA^02110^USA^L||^PRN^PH^^^617^${child.phone}`,
    `ORC|RE||BENCH-${sequence}^BENCHRX`,
    `RXA|0|1|${hl7Date(1 + (sequence % 100))}||${cvx}^vaccine^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001||||||LOT${sequence}|${hl7Date(-365)}||||CP|A`,
    'RXR|C28161^Intramuscular^NCIT|LA^Left Arm^HL70163',
    `OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V01^Not VFC eligible^HL70064||||||F|||${hl7Date(1)}`,
  ].join('\r');
}

export function envelope(message: string): string {
  const xml = builder.build({
    'soap:Envelope': {
      '@_xmlns:soap': 'http://www.w3.org/2003/05/soap-envelope',
      'soap:Body': { submitSingleMessage: { '@_xmlns': 'urn:cdc:iisb:2011', username: 'bench', password: TOKEN, facilityID: 'bench-pharmacy', hl7Message: message } },
    },
  }) as string;
  return xml.replace(/\r/g, '&#13;');
}


/**
 * Sends `n` VXUs through POST `url` (the SOAP endpoint), `concurrency` at a time, each message
 * built by `message` (default: the next of this module's sequence). A reply whose MSA-1 is not AA
 * or AE fails the run: a bench that measures refusals would measure the wrong work.
 */
export async function submitVxus(url: string, n: number, concurrency: number, message: () => string = nextMessage): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: envelope(message()) });
        const text = await res.text();
        if (!/MSA\|A[AE]\|/.test(text)) throw new Error(`not accepted: ${text.slice(0, 1000)}`);
      }
    })
  );
}

/**
 * The counting benches' run (store-vxu-reads, store-vxu-writes): `warmUp` messages, then `messages`
 * with `measuring(true)` around them. The audit trail's batches are written before and after, so the
 * counts hold the measured messages' own audit writes and none of the warm-up's.
 */
export async function warmThenMeasure(
  running: { url: string; audit: { flush(): Promise<unknown> } },
  run: { warmUp: number; messages: number; concurrency: number },
  measuring: (on: boolean) => void
): Promise<void> {
  const url = `${running.url}/soap`;
  await submitVxus(url, run.warmUp, run.concurrency);
  await running.audit.flush();
  measuring(true);
  await submitVxus(url, run.messages, run.concurrency);
  await running.audit.flush();
  measuring(false);
}

/**
 * The SOAP benches' keep-alive agent. A socket left idle closes on the client's side after 4 s, before
 * the server's keep-alive timeout (Node's default, 5 s) closes it on the other: reusing a socket at
 * the instant the server closes it is answered ECONNRESET, a failed message that fails the run (seen
 * once in session 11, between the closed and the open loop). A socket in use is not timed out.
 */
export function soapAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, timeout: 4_000 });
}
