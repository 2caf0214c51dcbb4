// Building responses: the MSH every answer starts with (sender and receiver swapped, MSH-21 the
// response profile), MSA, and one ERR per issue (CDC guide release 1.5, ACK^V04 profile Z23).
import { randomUUID } from 'node:crypto';
import type { Hl7Segment } from '@medplum/core';
import { buildMessage, component, nowHl7, segment, segmentText, structuredComponents, type FieldValue, type ParsedMessage } from './er7.js';
import { CDC_0533, HL7_0357, type Hl7Issue } from './problems.js';

export type AckCode = 'AA' | 'AE' | 'AR';

/**
 * What a response takes from the request's header: MSH-3 to MSH-6 (components 1–3 of each),
 * MSH-10, MSH-11 and the trigger event. A message being stored keeps this rather than its parsed
 * message for its answer: the parse tree (~6 KB for a VXU) would otherwise stay reachable while the
 * message's requests run, and be copied by every young-generation GC meanwhile.
 */
export interface AckRequest {
  /** MSH-3, MSH-4, MSH-5, MSH-6: components 1–3 each ([] when the field is absent). */
  applications: [string[], string[], string[], string[]];
  processingId: string;
  controlId: string;
  triggerEvent: string;
  /**
   * MSH-22 and MSH-23 (sending / receiving responsible organization, XON, usage RE), each as its
   * components (subcomponents split): the answer carries them swapped, as it does MSH-3/4 and
   * MSH-5/6 — the organization the message was addressed to is the one answering.
   */
  responsibleOrganizations?: [Array<string | string[]>, Array<string | string[]>];
}

/** The header facts of a parsed request that a response needs. */
export function ackRequestOf(request: ParsedMessage): AckRequest {
  const msh = request.msh;
  const pick = (field: number): string[] => [component(msh, field, 1), component(msh, field, 2), component(msh, field, 3)];
  // Raw components: a subcomponent separator is told apart from an escaped `\T\` before unescaping.
  const organization = (field: number): Array<string | string[]> => structuredComponents(msh, field);
  return {
    applications: [pick(3), pick(4), pick(5), pick(6)],
    processingId: request.processingId,
    controlId: request.controlId,
    triggerEvent: request.triggerEvent,
    responsibleOrganizations: [organization(22), organization(23)],
  };
}

function asAckRequest(request: ParsedMessage | AckRequest | undefined): AckRequest | undefined {
  return request === undefined || 'applications' in request ? request : ackRequestOf(request);
}

/** MSH of a response to `request` (which may be undefined when the request could not be read). */
export function responseMsh(request: ParsedMessage | AckRequest | undefined, messageType: [string, string, string], profile: string): Hl7Segment {
  return segment('MSH', mshFields(asAckRequest(request), messageType, profile));
}

function mshFields(request: AckRequest | undefined, messageType: [string, string, string], profile: string): FieldValue[] {
  const [sendingApplication, sendingFacility, receivingApplication, receivingFacility] = request?.applications ?? [[], [], [], []];
  const [sendingOrganization, receivingOrganization] = request?.responsibleOrganizations ?? [[], []];
  return [
    '|',
    '^~\\&',
    receivingApplication.some(Boolean) ? receivingApplication : ['IIS'],
    receivingFacility,
    sendingApplication,
    sendingFacility,
    nowHl7(),
    undefined,
    messageType,
    randomUUID().replace(/-/g, '').slice(0, 20),
    [request?.processingId || 'P'],
    ['2.5.1'],
    undefined,
    undefined,
    'NE',
    'NE',
    undefined,
    undefined,
    undefined,
    undefined,
    [profile, 'CDCPHINVS'],
    receivingOrganization,
    sendingOrganization,
  ];
}

export function msa(code: AckCode, request: ParsedMessage | AckRequest | undefined): Hl7Segment {
  return segment('MSA', msaFields(code, request));
}

function msaFields(code: AckCode, request: ParsedMessage | AckRequest | undefined): FieldValue[] {
  return [code, request?.controlId ?? ''];
}

export function err(issue: Hl7Issue): Hl7Segment {
  return segment('ERR', errFields(issue));
}

function errFields(issue: Hl7Issue): FieldValue[] {
  const loc = issue.location;
  const location = loc
    ? [loc.segment, String(loc.sequence), loc.field !== undefined ? String(loc.field) : undefined, loc.field !== undefined ? String(loc.repetition ?? 1) : undefined, loc.component !== undefined ? String(loc.component) : undefined]
    : undefined;
  return [
    undefined,
    location,
    [issue.hl7Code, HL7_0357[issue.hl7Code] ?? '', 'HL70357'],
    issue.severity,
    issue.appCode ? [issue.appCode, CDC_0533[issue.appCode] ?? '', 'HL70533'] : undefined,
    undefined,
    undefined,
    issue.text,
  ];
}

/** The acknowledgement code for what happened: AR when nothing was stored, AE with errors or warnings, else AA. */
export function ackCodeFor(stored: boolean, issues: Hl7Issue[]): AckCode {
  if (!stored) return 'AR';
  return issues.some((i) => i.severity === 'E' || i.severity === 'W') ? 'AE' : 'AA';
}

/** ACK^V04 (Z23) for a VXU, or ACK with the request's trigger for anything else. */
export function buildAck(request: ParsedMessage | AckRequest | undefined, code: AckCode, issues: Hl7Issue[], options: { reference?: boolean } = {}): string {
  const trigger = request?.triggerEvent || 'V04';
  if (options.reference) return buildMessage([responseMsh(request, ['ACK', trigger, 'ACK'], 'Z23'), msa(code, request), ...issues.map(err)]);
  // The same text without building @medplum/core segments only to write them out (segmentText).
  let text = `${segmentText('MSH', mshFields(asAckRequest(request), ['ACK', trigger, 'ACK'], 'Z23'))}\r${segmentText('MSA', msaFields(code, request))}`;
  for (const issue of issues) text += `\r${segmentText('ERR', errFields(issue))}`;
  return text;
}
