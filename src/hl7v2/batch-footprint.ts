// What a message of a batch file may read or write, told from the message alone, so that the batch
// can run side by side only messages that cannot change each other's answers or stored results
// (batch-schedule.ts). Conservative by design: two messages that share any key keep their file order.
//
// A VXU reaches the registry in four ways, and its keys cover each:
// - the record its PID-3 identifiers name (`Patient?identifier=…`): one key per identifier, SSN and
//   Medicaid numbers included (the VXU's look-up leaves them out, matching weighs them);
// - matching, when no record carries those identifiers: a new child's Patient is compared with the
//   records the blocking keys find (src/matching/blocking.ts: exact birth date, surname with the
//   birth month / day of year and their typo variants, surname + given name, mother's maiden name,
//   phone, address, identifiers). Every key the message's Patient looks up is one of its keys, and
//   the keys its stored record will carry are among them, so a message whose record another one
//   could find or merge with — the newborn placeholder then the legal name (same birth date), twins
//   (same birth date and surname), a typo'd birth date (same surname and month or day of year) —
//   shares a key with it;
// - its doses: each dose's identifier (ORC-3, else the key of patient, vaccine and date), which a
//   conditional PUT or DELETE names, and the Conditions made from its OBX (identified by the dose);
// - its data-sharing Consent (PD1-12), by its identifier.
// What keys cannot see: two messages for a record ALREADY stored that reach it through different
// parts of it (one by an identifier, the other by a phone the record has but the first message does
// not carry) while sharing nothing between themselves. Telling that needs the store read before the
// messages run; see README "Batch files: speed".
//
// A QBP reads whatever its query finds (identifiers, then $match, then the history and forecast):
// it keeps its place against every VXU (a query). A message that cannot be parsed touches nothing
// (handleMessage answers it AR from the same parse). Anything else (another message type, a VXU that
// cannot be read into a patient) runs alone: after everything before it, before everything after.
import type { Identifier } from '@medplum/fhirtypes';
import { blockingStages, matchingIndex } from '../matching/blocking.js';
import { parseMessage, type ParsedMessage } from './er7.js';
import { token } from './identifiers.js';
import { readVxu, type VxuContent } from './vxu-to-fhir.js';

export type Footprint =
  /** A VXU: every key of what it may read or write. */
  | { kind: 'record'; keys: string[] }
  /** A QBP: reads anything, writes nothing of another message's. */
  | { kind: 'query' }
  /** Reads and writes nothing (a message that cannot be parsed: answered AR from its text alone). */
  | { kind: 'none' }
  /** Unknown reach: after every earlier message, before every later one. */
  | { kind: 'alone' };

export interface FootprintOptions {
  /** HL7V2_MAX_MESSAGE_BYTES: the limit handleMessage parses with (a message over it is answered AR unread). */
  maxBytes: number;
  /** `Organization/<id>` the caller acts for, as handleMessage reads the VXU with it. */
  organization?: string;
  /** The set the message was read in, as handleMessage reads it (charset.ts ReadAs). */
  readAs?: string;
}

/**
 * An identifier as a key: its search token, lower-cased and trimmed, so that two spellings a search
 * might treat as one (case, surrounding spaces) are one key — coarser than any search, never finer.
 */
function tokenKey(identifier: Identifier): string {
  return token({ system: identifier.system?.trim().toLowerCase(), value: identifier.value?.trim().toLowerCase() });
}

/** The path blockingStages is asked to name: its filters are read back as keys. */
const KEY_PATH = 'k';

export function footprintOf(message: string, options: FootprintOptions): Footprint {
  let parsed: ParsedMessage;
  try {
    parsed = parseMessage(message, { maxBytes: options.maxBytes, readAs: options.readAs });
  } catch {
    return { kind: 'none' };
  }
  const type = `${parsed.messageType}^${parsed.triggerEvent}`;
  if (type === 'QBP^Q11') return { kind: 'query' };
  if (type !== 'VXU^V04') return { kind: 'alone' };
  let content: VxuContent;
  try {
    content = readVxu(parsed, { organization: options.organization });
  } catch {
    return { kind: 'alone' };
  }
  const keys = new Set<string>();
  for (const identifier of content.identifiers) keys.add(`pid ${tokenKey(identifier)}`);
  const { exact, tolerant } = blockingStages(content.patient, { path: KEY_PATH });
  for (const filter of [...exact, ...tolerant]) {
    const condition = filter[KEY_PATH] as string | { $in: string[] } | undefined;
    if (typeof condition === 'string') keys.add(`match ${condition}`);
    else if (condition && Array.isArray(condition.$in)) for (const key of condition.$in) keys.add(`match ${key}`);
    else return { kind: 'alone' }; // a filter of another shape: its reach is not known here
  }
  for (const key of matchingIndex(content.patient).keys) keys.add(`match ${key}`);
  for (const dose of content.doses) {
    keys.add(`dose ${tokenKey(dose.identifier)}`);
    for (const condition of dose.conditions) keys.add(`condition ${tokenKey(condition.identifier)}`);
  }
  if (content.consent) keys.add(`consent ${tokenKey(content.consent.identifier)}`);
  return { kind: 'record', keys: [...keys] };
}
