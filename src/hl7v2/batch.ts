// HL7 v2 batch files on POST /hl7v2, as registries receive them from EHRs and pharmacies (HL7 v2.5.1
// chapter 2, "HL7 batch protocol": [FHS] { [BHS] { MSH … } [BTS] } [FTS]). Each message is answered
// exactly as when it is sent alone — by the same function (`answer`: messages.ts handleMessage with
// the caller's context), each through the message gate — and as when the file runs one message at a
// time in order: messages run side by side only when no two of them can reach the same record
// (batch-footprint.ts, batch-schedule.ts). The answers go back as one batch: FHS/BHS answering the
// sender's (FHS-12/BHS-12 = its FHS-11/BHS-11), one ACK or RSP per message in file order, BTS-1 the
// count of answers, FTS-1 the count of batches.
//
// What is whole-batch and what is per message (the batch is checked before any message is run, so a
// batch refused as a whole has stored nothing):
// - the envelope: FHS/BHS delimiters other than `|` and `^~\&`, FHS not first, BTS/FTS with nothing
//   open, segments after FTS, a segment outside any message (before a batch's first MSH, or after
//   its BTS): the file is corrupt or truncated in a way no message's answer can report → refused
//   as a whole, HTTP 400;
// - BTS-1 / FTS-1 that disagree with the messages / batches found: the file lost or gained messages
//   on the way (the protocol's reason for the counts) → refused as a whole, HTTP 400;
// - more messages (or batches) than the limit → refused as a whole, HTTP 413;
// - a missing BTS or FTS is not an error (both are optional in the protocol's grammar): the batch
//   is processed and the answer's BHS-10 / FHS-10 says the count could not be checked;
// - anything wrong inside a message (after its MSH, before the next MSH/BHS/BTS/FTS) is that
//   message's own AR, as when it is sent alone; the other messages are processed.
// A refusal is answered as a batch (so FHS-12/BHS-12 tie it to the file) holding one ACK^V04 AR
// whose ERR says why and whose MSA-2 is empty (no message was acknowledged); never as a batch of
// zero ACKs, which the protocol reads as "every message implicitly accepted".
import { randomUUID } from 'node:crypto';
import { isFhirError } from '../fhir/outcome.js';
import type { Logger } from '../logger.js';
import { StoreUnavailableError } from '../store/store.js';
import { ackRequestOf, buildAck, type AckRequest } from './ack.js';
import { ENCODING_CHARACTERS, nowHl7, parseMessage, segmentText, unescapeText, type FieldValue } from './er7.js';
import { footprintOf } from './batch-footprint.js';
import { runScheduled } from './batch-schedule.js';
import type { MessageGate } from './gate.js';
import type { MessageResult } from './messages.js';
import { Hl7Problem, isHl7Problem, type Hl7Issue } from './problems.js';

/** The default of HL7V2_MAX_BATCH_MESSAGES: the most messages (and batches) one request may carry. */
export const DEFAULT_MAX_BATCH_MESSAGES = 1000;

/**
 * The default of HL7V2_BATCH_CONCURRENCY: messages of one file run at once (when they concern
 * different patients). Measured with bench:hl7v2-batch (src/hl7v2/README.md "Batch files: speed").
 */
export const DEFAULT_BATCH_CONCURRENCY = 8;
/** Messages of a file read ahead (footprints known) and not finished, at least 4 × the concurrency. */
const BATCH_LOOKAHEAD = 64;

/** A body whose first segment is FHS or BHS (after a byte-order mark, whitespace or an MLLP start block). */
export function isBatch(text: string): boolean {
  return /^\uFEFF?[\s\x0b]*[FB]HS/.test(text);
}

/** One batch as received: its header and trailer lines (when sent) and its messages as [start, end) offsets in the body. */
export interface ReceivedBatch {
  header?: string;
  trailer?: string;
  messages: Array<[number, number]>;
}

/** The file as received: FHS and FTS lines (when sent) and its batches. */
export interface ReceivedFile {
  header?: string;
  trailer?: string;
  batches: ReceivedBatch[];
}

/** What reading the envelope gave: the file as far as it was read, and the problem that refuses it, if any. */
export interface ReadBatch {
  file: ReceivedFile;
  problem?: Hl7Problem;
}

/**
 * Reads the envelope without parsing any message: finds where each message starts and ends, and
 * checks the structure, the counts and the limit. Linear in the body (one pass, no line array).
 */
export function readBatchFile(text: string, maxMessages: number): ReadBatch {
  const file: ReceivedFile = { batches: [] };
  try {
    scan(text, maxMessages, file);
    checkCounts(file);
    return { file };
  } catch (err) {
    if (!isHl7Problem(err)) throw err;
    return { file, problem: err };
  }
}

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;
// eslint-disable-next-line no-control-regex
const BLANK = /^[\s\x0b\x1c]*$/;

function scan(text: string, maxMessages: number, file: ReceivedFile): void {
  const lineEnd = /\r\n|\r|\n/g;
  const lead = /^\uFEFF?[\s\x0b]*/.exec(text);
  let pos = lead ? lead[0].length : 0;
  let current: ReceivedBatch | undefined;
  let message: [number, number] | undefined;
  let messages = 0;
  let segmentNumber = 0;
  let ended = false;
  const closeMessage = (): void => {
    if (message && current) current.messages.push(message);
    message = undefined;
  };
  const openBatch = (header?: string): ReceivedBatch => {
    if (file.batches.length >= maxMessages) {
      throw refusal(`The file holds more than ${maxMessages} batches, the limit (HL7V2_MAX_BATCH_MESSAGES); nothing was processed`, '207', 'BHS', file.batches.length + 1, undefined, 413);
    }
    const batch: ReceivedBatch = { header, messages: [] };
    file.batches.push(batch);
    return batch;
  };
  while (pos <= text.length) {
    lineEnd.lastIndex = pos;
    const found = lineEnd.exec(text);
    const end = found ? found.index : text.length;
    const start = pos;
    pos = found ? found.index + found[0].length : text.length + 1;
    const head = text.slice(start, Math.min(end, start + 4));
    if (BLANK.test(head) && BLANK.test(text.slice(start, end))) continue;
    segmentNumber += 1;
    const id = head.slice(0, 3);
    // FHS and BHS name their own field separator (checked below), so they are known by their id alone.
    const isSegment = id === 'FHS' || id === 'BHS' || (SEGMENT_ID.test(id) && (end - start === 3 || head.charAt(3) === '|'));
    const where = `segment ${segmentNumber} (${isSegment ? id : JSON.stringify(text.slice(start, Math.min(end, start + 12)))})`;
    if (ended) throw refusal(`Nothing may follow FTS, the end of the file: found ${where}; nothing was processed`, '100', 'FTS', 1);
    if (!isSegment) {
      if (message) {
        // Inside a message: that message's own AR when it is read (as when it is sent alone).
        message[1] = end;
        continue;
      }
      throw refusal(`The ${where} is not a segment and lies outside any message; nothing was processed`, '100', 'UNK', segmentNumber);
    }
    switch (id) {
      case 'FHS': {
        if (segmentNumber !== 1) throw refusal(`FHS must be the first segment of the file (found as ${where}); nothing was processed`, '100', 'FHS', 1);
        const line = text.slice(start, end);
        checkDelimiters(line, 'FHS');
        file.header = line;
        break;
      }
      case 'BHS': {
        closeMessage();
        const line = text.slice(start, end);
        checkDelimiters(line, 'BHS', file.batches.length + 1);
        current = openBatch(line);
        break;
      }
      case 'MSH': {
        closeMessage();
        // A message right after FHS or after a BTS starts a batch without BHS (the protocol's BHS is optional).
        if (!current || current.trailer !== undefined) current = openBatch();
        messages += 1;
        if (messages > maxMessages) {
          throw refusal(`The file holds more than ${maxMessages} messages, the limit (HL7V2_MAX_BATCH_MESSAGES): send it in parts; nothing was processed`, '207', 'MSH', messages, undefined, 413);
        }
        message = [start, end];
        break;
      }
      case 'BTS': {
        if (!current || current.trailer !== undefined) throw refusal(`BTS (${where}) closes no batch: no BHS or MSH comes before it since the last BTS; nothing was processed`, '100', 'BTS', file.batches.length + 1);
        closeMessage();
        current.trailer = text.slice(start, end);
        break;
      }
      case 'FTS': {
        if (file.header === undefined) throw refusal(`FTS (${where}) ends a file that has no FHS; nothing was processed`, '100', 'FTS', 1);
        closeMessage();
        file.trailer = text.slice(start, end);
        ended = true;
        break;
      }
      default: {
        if (message) {
          message[1] = end;
          break;
        }
        const place = !current ? 'before the first BHS or MSH' : current.trailer !== undefined ? 'after a BTS, before the next BHS or MSH' : "between BHS and the batch's first MSH";
        throw refusal(`The ${where} lies outside any message, ${place}: a message's MSH may be missing; nothing was processed`, '100', id, segmentNumber);
      }
    }
  }
  closeMessage();
}

function checkDelimiters(line: string, id: 'FHS' | 'BHS', sequence = 1): void {
  const separator = line.charAt(3);
  const encoding = line.split('|')[1] ?? '';
  if (separator !== '|' || encoding !== ENCODING_CHARACTERS) {
    throw refusal(
      `${id}-1 and ${id}-2 must be "|" and "${ENCODING_CHARACTERS}" (found "${separator}" and "${separator === '|' ? encoding : line.slice(4, 8)}"); nothing was processed`,
      '102',
      id,
      sequence,
      separator === '|' ? 2 : 1
    );
  }
}

/** BTS-1 against each batch's messages, FTS-1 against the file's batches (when sent). */
function checkCounts(file: ReceivedFile): void {
  file.batches.forEach((batch, index) => {
    if (batch.trailer === undefined) return;
    const declared = field(batch.trailer, 1);
    if (declared === '') return;
    if (!/^\d{1,10}$/.test(declared)) throw refusal(`BTS-1 (batch message count) "${declared}" of batch ${index + 1} is not a count; nothing was processed`, '102', 'BTS', index + 1, 1);
    if (Number(declared) !== batch.messages.length) {
      throw refusal(`BTS-1 of batch ${index + 1} says ${Number(declared)} messages but the batch holds ${batch.messages.length}: the file may be incomplete; nothing was processed`, '100', 'BTS', index + 1, 1);
    }
  });
  if (file.trailer === undefined) return;
  const declared = field(file.trailer, 1);
  if (declared === '') return;
  if (!/^\d{1,10}$/.test(declared)) throw refusal(`FTS-1 (file batch count) "${declared}" is not a count; nothing was processed`, '102', 'FTS', 1, 1);
  if (Number(declared) !== file.batches.length) {
    throw refusal(`FTS-1 says ${Number(declared)} batches but the file holds ${file.batches.length}: the file may be incomplete; nothing was processed`, '100', 'FTS', 1, 1);
  }
}

function refusal(text: string, hl7Code: string, segment: string, sequence: number, fieldNumber?: number, httpStatus = 400): Hl7Problem {
  return new Hl7Problem({ text, hl7Code, appCode: hl7Code === '207' ? '4' : '7', location: { segment, sequence, field: fieldNumber } }, httpStatus);
}

// ---- reading and answering header fields -------------------------------------------------------

/**
 * Field n of a header or trailer line as sent (ER7, escaped). FHS and BHS count like MSH (field 1
 * is the separator itself, so field n is the nth piece after the segment id's); BTS and FTS like
 * any segment.
 */
function field(line: string, n: number): string {
  const parts = line.split('|');
  const isHeader = line.startsWith('FHS') || line.startsWith('BHS');
  return (isHeader ? parts[n - 1] : parts[n]) ?? '';
}

/** An HD field (application, facility): components 1–3, unescaped. */
function hd(line: string | undefined, n: number): string[] {
  if (!line) return [];
  return field(line, n).split('~')[0].split('^').slice(0, 3).map(unescapeText);
}

function newControlId(): string {
  return randomUUID().replace(/-/g, '').slice(0, 20);
}

/**
 * FHS or BHS answering the one received (sender and receiver swapped as in a response MSH), with a
 * new control id (-11) and the received one as the reference (-12), and a comment (-10) when there
 * is something to say about the file or batch as a whole.
 */
function answeringHeader(id: 'FHS' | 'BHS', received: string | undefined, comment?: string): string {
  const receivingApplication = hd(received, 5);
  const fields: FieldValue[] = [
    '|',
    ENCODING_CHARACTERS,
    receivingApplication.some(Boolean) ? receivingApplication : ['IIS'],
    hd(received, 6),
    hd(received, 3),
    hd(received, 4),
    nowHl7(),
    undefined,
    undefined,
    comment,
    newControlId(),
    received ? unescapeText(field(received, 11)) : undefined,
  ];
  return segmentText(id, fields);
}

/** A batch of answers, as FHS?, { BHS, answers, BTS }, FTS? — the shape the file came in. */
function buildBatchAnswer(file: ReceivedFile, batches: Array<{ received?: ReceivedBatch; answers: string[]; comment?: string }>, fileComment?: string): string {
  const parts: string[] = [];
  if (file.header !== undefined) parts.push(answeringHeader('FHS', file.header, fileComment));
  for (const batch of batches) {
    parts.push(answeringHeader('BHS', batch.received?.header, batch.comment));
    parts.push(...batch.answers);
    parts.push(segmentText('BTS', [String(batch.answers.length)]));
  }
  if (file.header !== undefined) parts.push(segmentText('FTS', [String(batches.length)]));
  return parts.join('\r');
}

// ---- processing --------------------------------------------------------------------------------

export interface BatchOptions {
  /** The most messages (and batches) a file may hold (HL7V2_MAX_BATCH_MESSAGES). */
  maxMessages: number;
  /** HL7V2_MAX_MESSAGE_BYTES: each message's own limit (for reading a failed message's header). */
  maxMessageBytes: number;
  /** One message's answer, exactly as when it is sent alone (messages.ts handleMessage with the caller's context). */
  answer: (message: string) => Promise<MessageResult>;
  /** The message gate (gate.ts): each message of the batch takes its turn there like any other message. */
  gate?: MessageGate;
  /**
   * Messages of the file run at once (HL7V2_BATCH_CONCURRENCY, default DEFAULT_BATCH_CONCURRENCY):
   * only those no two of which can reach the same record (batch-schedule.ts); 1: one at a time.
   */
  concurrency?: number;
  /** `Organization/<id>` the caller acts for: the messages' footprints are read as handleMessage reads them. */
  organization?: string;
  /** The set the file was read in (charset.ts ReadAs): the messages' footprints are read as handleMessage reads them. */
  readAs?: string;
  /** Called with each message's result as it is answered (the submitter report). */
  answered?: (result: MessageResult) => void;
  /** True once the client has gone: the messages not yet run are not run. */
  clientGone?: () => boolean;
  logger?: Logger;
  requestId?: string;
}

export interface BatchAnswer {
  /** 200 processed; 400/413 refused as a whole (nothing processed); 503 the store went away part-way (the answer says which messages were stored). */
  status: number;
  body: string;
}

/** Why the rest of a batch is not run. */
type Stop = { reason: 'store-unavailable'; at: number } | { reason: 'client-gone'; at: number };

/**
 * Answers a batch file: the envelope is read and checked first (a refusal stores nothing), then the
 * messages are run — side by side where their footprints (batch-footprint.ts) say no two of them
 * can reach the same record, in file order where they could (batch-schedule.ts), each through the
 * gate, yielding to other work before each message — and their answers put back in file order;
 * only each message's answer (text) is kept meanwhile.
 */
export async function handleBatch(text: string, options: BatchOptions): Promise<BatchAnswer> {
  const { file, problem } = readBatchFile(text, options.maxMessages);
  if (problem) return refusedBatch(file, problem);
  const messages = file.batches.flatMap((batch) => batch.messages);
  const answers: string[] = new Array<string>(messages.length);
  let stop: Stop | undefined;
  const messageAt = (index: number): string => text.slice(messages[index][0], messages[index][1]);
  const concurrency = options.concurrency ?? DEFAULT_BATCH_CONCURRENCY;
  await runScheduled(messages.length, {
    concurrency,
    lookahead: Math.max(BATCH_LOOKAHEAD, 4 * concurrency),
    // A stopped batch runs nothing more: its messages need no footprint.
    footprint: (index) => (stop ? { kind: 'none' } : footprintOf(messageAt(index), { maxBytes: options.maxMessageBytes, organization: options.organization, readAs: options.readAs })),
    run: async (index) => {
      const ordinal = index + 1;
      const message = messageAt(index);
      if (!stop && options.clientGone?.()) stop = { reason: 'client-gone', at: ordinal };
      if (!stop) {
        // Other requests' work (reading sockets, parsing, the store's callbacks) runs before each message.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (stop) {
        answers[index] = notRun(message, stop, options);
        return;
      }
      const { ack, storeUnavailable } = await answerOne(message, ordinal, options);
      answers[index] = ack;
      if (storeUnavailable) stop ??= { reason: 'store-unavailable', at: ordinal };
    },
  });
  if (stop?.reason === 'client-gone') {
    options.logger?.warn('HL7 v2 batch: the client went away; the rest of the batch was not run', { requestId: options.requestId, stoppedAt: stop.at, messages: messages.length });
  }
  let next = 0;
  const answered = file.batches.map((received) => ({
    received,
    answers: answers.slice(next, (next += received.messages.length)),
    comment: received.trailer === undefined ? 'No BTS was sent: the message count could not be checked' : undefined,
  }));
  const fileComment = file.header !== undefined && file.trailer === undefined ? 'No FTS was sent: the batch count could not be checked' : undefined;
  return { status: stop?.reason === 'store-unavailable' ? 503 : 200, body: buildBatchAnswer(file, answered, fileComment) };
}

/** One message through the gate and the single-message path; a failure that is not the message's becomes its AR. */
async function answerOne(message: string, ordinal: number, options: BatchOptions): Promise<{ ack: string; storeUnavailable: boolean }> {
  try {
    const result = await (options.gate ? options.gate.run(() => options.answer(message)) : options.answer(message));
    options.answered?.(result);
    return { ack: result.body, storeUnavailable: false };
  } catch (err) {
    const storeUnavailable = err instanceof StoreUnavailableError || (isFhirError(err) && err.status === 503);
    options.logger?.error('HL7 v2 batch: a message failed', { requestId: options.requestId, message: ordinal, error: err instanceof Error ? err.stack : String(err) });
    const text = storeUnavailable
      ? 'The data store is unavailable: this message was not stored and the rest of the batch was not run; send them again shortly'
      : 'An unexpected server error occurred while processing this message (it has been logged); check the record before sending it again';
    return { ack: buildAck(headerOf(message, options), 'AR', [internalIssue(text)]), storeUnavailable };
  }
}

/** The AR of a message left unrun because the batch stopped. */
function notRun(message: string, stop: Stop, options: BatchOptions): string {
  const text =
    stop.reason === 'store-unavailable'
      ? `Not processed: the data store became unavailable at message ${stop.at} of the batch; send this message again`
      : `Not processed: the client went away at message ${stop.at} of the batch; send this message again`;
  return buildAck(headerOf(message, options), 'AR', [internalIssue(text)]);
}

function internalIssue(text: string): Hl7Issue {
  return { severity: 'E', hl7Code: '207', appCode: '4', text, location: { segment: 'MSH', sequence: 1 } };
}

/** The header facts of a message for an AR of the batch's own (undefined when the message cannot be read). */
function headerOf(message: string, options: BatchOptions): AckRequest | undefined {
  try {
    return ackRequestOf(parseMessage(message, { maxBytes: options.maxMessageBytes }));
  } catch {
    return undefined;
  }
}

/** A batch refused as a whole: one ACK AR (MSA-2 empty) in a batch answering the first one received. */
function refusedBatch(file: ReceivedFile, problem: Hl7Problem): BatchAnswer {
  const first = file.batches[0];
  const request: AckRequest = {
    applications: [hd(first?.header ?? file.header, 3), hd(first?.header ?? file.header, 4), hd(first?.header ?? file.header, 5), hd(first?.header ?? file.header, 6)],
    processingId: 'P',
    controlId: '',
    triggerEvent: 'V04',
  };
  const ack = buildAck(request, 'AR', [problem.issue]);
  const body = buildBatchAnswer(file, [{ received: first, answers: [ack], comment: 'Rejected as a whole: nothing was processed' }]);
  return { status: problem.httpStatus, body };
}
