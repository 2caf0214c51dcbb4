// One HL7 v2 message in, one response out, whatever the transport: read and check the header,
// dispatch by message type, and turn anything wrong with the message into an AR acknowledgement.
import { ackRequestOf, buildAck, type AckRequest } from './ack.js';
import { withDeclaredCharset } from './charset.js';
import { parseMessage, type ParsedMessage } from './er7.js';
import type { FhirRunner, MessageRunner } from './fhir-runner.js';
import { Hl7Problem, isHl7Problem, type Hl7Issue } from './problems.js';
import { processQbp } from './qbp.js';
import { prepareVxu } from './vxu.js';

export interface MessageContext {
  run: FhirRunner;
  /**
   * Runs a VXU's requests audited as ONE AuditEvent (the pipeline's executeMessageAs); absent (unit
   * tests with a fake runner): through `run`, one event per request.
   */
  runMessage?: MessageRunner;
  /** `Organization/<id>` the caller acts for (owner of PD1 Consents, performer of administered doses). */
  organization?: string;
  maxBytes: number;
  /** The set the message's text was read in (charset.ts ReadAs): its character set escapes are read from those bytes. */
  readAs?: string;
  /** Why the body's bytes could not be read as text (charset.ts): each message is refused with it (AR), nothing read further. */
  unreadable?: Hl7Issue;
}

export interface MessageResult {
  /** The response message (ER7). */
  body: string;
  /** MSA-1 of the response. */
  code: 'AA' | 'AE' | 'AR';
  issues: Hl7Issue[];
  /** HTTP status for POST /hl7v2: 200 when the message was processed, 4xx when it was rejected. */
  status: number;
  /** MSH-4 (sending facility), for the submitter report. */
  facility: string;
  messageType: string;
}

export const SUPPORTED_VERSIONS = ['2.5.1'];

/**
 * Not an async function on purpose: the message is read and checked now, and what goes on to the
 * store holds only what the answer needs (prepareVxu), so the message's text and parse tree are not
 * kept alive while its requests run. Anything wrong with the message is an AR, now or later.
 */
export function handleMessage(text: string, ctx: MessageContext): Promise<MessageResult> {
  let parsed: ParsedMessage | undefined;
  try {
    if (ctx.unreadable) throw new Hl7Problem(ctx.unreadable);
    parsed = parseMessage(text, { maxBytes: ctx.maxBytes, readAs: ctx.readAs });
    checkHeader(parsed);
    const type = `${parsed.messageType}^${parsed.triggerEvent}`;
    const facility = facilityOf(parsed);
    if (type === 'VXU^V04') {
      const store = prepareVxu(parsed, { organization: ctx.organization });
      const stored = ctx.runMessage ? ctx.runMessage(store, (r) => ({ status: r.status, description: `HL7 MSA-1 ${r.code}` })) : store(ctx.run);
      const answered = stored.then((result): MessageResult => ({ body: withDeclaredCharset(result.ack), code: result.code, issues: result.issues, status: result.status, facility, messageType: type }));
      return rejectedLater(answered, ackRequestOf(parsed), facility, type);
    }
    if (type === 'QBP^Q11') {
      const answered = processQbp(parsed, ctx.run).then((result): MessageResult => ({ body: withDeclaredCharset(result.body), code: result.code, issues: result.issues, status: result.status, facility, messageType: type }));
      return rejectedLater(answered, ackRequestOf(parsed), facility, type);
    }
    throw unsupported(parsed);
  } catch (err) {
    if (!isHl7Problem(err)) return Promise.reject(err);
    const header = parsed ?? readableHeader(text, ctx.maxBytes);
    return Promise.resolve(rejection(err, header, header ? facilityOf(header) : '', header ? `${header.messageType}^${header.triggerEvent}` : ''));
  }
}

/**
 * The MSH of a message refused before it was read whole (a malformed later segment, a second MSH):
 * when that first segment is readable, the AR still answers it — MSA-2 its MSH-10, MSH-3..6 its
 * applications swapped — so the sender can tell which message was refused.
 */
function readableHeader(text: string, maxBytes: number): ParsedMessage | undefined {
  const firstLine = /^[^\r\n]*/.exec(text.replace(/^[\uFEFF\s\x0b]+/, ''))?.[0] ?? '';
  // A header refused for a character set escape (in MSH-4, say) still names the message: read without them.
  for (const characterSetEscapes of [true, false]) {
    try {
      return parseMessage(firstLine, { maxBytes, characterSetEscapes });
    } catch (err) {
      if (!isHl7Problem(err)) throw err;
    }
  }
  return undefined;
}

/** The answer, or the AR of an Hl7Problem met while the message was being processed. */
function rejectedLater(answered: Promise<MessageResult>, request: AckRequest, facility: string, messageType: string): Promise<MessageResult> {
  return answered.catch((err: unknown) => {
    if (!isHl7Problem(err)) throw err;
    return rejection(err, request, facility, messageType);
  });
}

function rejection(problem: Hl7Problem, request: ParsedMessage | AckRequest | undefined, facility: string, messageType: string): MessageResult {
  const issues = [problem.issue];
  return { body: withDeclaredCharset(buildAck(request, 'AR', issues)), code: 'AR', issues, status: problem.httpStatus, facility, messageType };
}

function facilityOf(parsed: ParsedMessage): string {
  const msh = parsed.msh;
  const facility = msh.getField(4)?.toString() ?? '';
  return facility.split('^')[0] || facility.split('^')[1] || '';
}

/** MSH-9, MSH-10, MSH-11 and MSH-12 as the CDC guide requires them. */
function checkHeader(parsed: ParsedMessage): void {
  if (!parsed.messageType) throw problem('MSH-9 (message type) is empty', '101', '7', 9);
  if (!parsed.controlId) throw problem('MSH-10 (message control id) is empty', '101', '7', 10);
  if (!SUPPORTED_VERSIONS.includes(parsed.version)) {
    throw problem(`MSH-12 version "${parsed.version}" is not supported: send HL7 version ${SUPPORTED_VERSIONS.join(' or ')}`, '203', '4', 12);
  }
  if (!['P', 'T', 'D'].includes(parsed.processingId)) {
    throw problem(`MSH-11 processing id "${parsed.processingId}" is not supported: use P, T or D`, '202', '4', 11);
  }
}

function problem(text: string, hl7Code: string, appCode: string, field: number): Hl7Problem {
  return new Hl7Problem({ text, hl7Code, appCode, location: { segment: 'MSH', sequence: 1, field } });
}

function unsupported(parsed: ParsedMessage): Hl7Problem {
  const known = ['VXU', 'QBP'];
  const isKnownType = known.includes(parsed.messageType);
  return new Hl7Problem({
    text: isKnownType
      ? `Event ${parsed.messageType}^${parsed.triggerEvent} is not supported: send VXU^V04 or QBP^Q11`
      : `Message type ${parsed.messageType || '(empty)'} is not supported: send VXU^V04 or QBP^Q11`,
    hl7Code: isKnownType ? '201' : '200',
    appCode: '4',
    location: { segment: 'MSH', sequence: 1, field: 9 },
  });
}
