// Building responses: the MSH every answer starts with (sender and receiver swapped, MSH-21 the
// response profile), MSA, and one ERR per issue (CDC guide release 1.5, ACK^V04 profile Z23).
import { randomUUID } from 'node:crypto';
import type { Hl7Segment } from '@medplum/core';
import { buildMessage, component, nowHl7, segment, segmentText, type FieldValue, type ParsedMessage } from './er7.js';
import { CDC_0533, HL7_0357, type Hl7Issue } from './problems.js';

export type AckCode = 'AA' | 'AE' | 'AR';

/** MSH of a response to `request` (which may be undefined when the request could not be read). */
export function responseMsh(request: ParsedMessage | undefined, messageType: [string, string, string], profile: string): Hl7Segment {
  return segment('MSH', mshFields(request, messageType, profile));
}

function mshFields(request: ParsedMessage | undefined, messageType: [string, string, string], profile: string): FieldValue[] {
  const msh = request?.msh;
  const pick = (field: number): string[] => (msh ? [component(msh, field, 1), component(msh, field, 2), component(msh, field, 3)] : []);
  return [
    '|',
    '^~\\&',
    pick(5).some(Boolean) ? pick(5) : ['IIS'],
    pick(6),
    pick(3),
    pick(4),
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
  ];
}

export function msa(code: AckCode, request: ParsedMessage | undefined): Hl7Segment {
  return segment('MSA', msaFields(code, request));
}

function msaFields(code: AckCode, request: ParsedMessage | undefined): FieldValue[] {
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
export function buildAck(request: ParsedMessage | undefined, code: AckCode, issues: Hl7Issue[], options: { reference?: boolean } = {}): string {
  const trigger = request?.triggerEvent || 'V04';
  if (options.reference) return buildMessage([responseMsh(request, ['ACK', trigger, 'ACK'], 'Z23'), msa(code, request), ...issues.map(err)]);
  // The same text without building @medplum/core segments only to write them out (segmentText).
  let text = `${segmentText('MSH', mshFields(request, ['ACK', trigger, 'ACK'], 'Z23'))}\r${segmentText('MSA', msaFields(code, request))}`;
  for (const issue of issues) text += `\r${segmentText('ERR', errFields(issue))}`;
  return text;
}
