import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hl7Field, Hl7Segment } from '@medplum/core';
import { IIS_RULES } from '../quality/rule-catalog.js';
import { ackRequestOf, buildAck, err } from './ack.js';
import { component, components, DEFAULT_CONTEXT, escapeText, firstSubcomponents, isHl7NullComponent, fhirDateTimeToHl7, hl7Instant, hl7InstantUncached, hl7ToFhirDateTime, nowHl7, parseMessage, parseSegment, segment, segmentText, unescapeText } from './er7.js';
import { RULE_MAP } from './issue-map.js';
import { Hl7Problem } from './problems.js';

const LIMITS = { maxBytes: 100_000 };

describe('escaping', () => {
  it('round-trips every delimiter and the escape character', () => {
    const text = 'A|B^C&D~E\\F';
    expect(escapeText(text)).toBe('A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F');
    expect(unescapeText(escapeText(text))).toBe(text);
  });
  it('reads hex and line-break escapes', () => {
    expect(unescapeText('a\\X41\\b\\.br\\c')).toBe('aAb\nc');
    // \Xhh..\ are bytes in the message's character set: UTF-8's when they are UTF-8, else ISO 8859-1's.
    expect(unescapeText('Jos\\XC3A9\\ Jos\\XE9\\')).toBe('José José');
  });
  it('built segments escape values and keep MSH delimiters raw', () => {
    expect(segment('NTE', [undefined, undefined, 'x|y']).toString()).toBe('NTE|||x\\F\\y');
    expect(segment('MSH', ['|', '^~\\&', ['APP']]).toString()).toBe('MSH|^~\\&|APP');
  });
});

describe('parseMessage', () => {
  const text = 'MSH|^~\\&|APP|FAC|IIS|IISF|20240101||VXU^V04^VXU_V04|C1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\nPID|1||123^^^A^MR||DOE\\T\\SON^JO';
  it('accepts LF separators and reads the header and MSH-21', () => {
    const parsed = parseMessage(text, LIMITS);
    expect(parsed).toMatchObject({ messageType: 'VXU', triggerEvent: 'V04', controlId: 'C1', version: '2.5.1', processingId: 'P', profiles: ['Z22'] });
    expect(component(parsed.message.segments[1], 5, 1)).toBe('DOE&SON');
  });
  it('refuses other delimiters, a missing MSH, a second MSH, and oversize messages', () => {
    expect(() => parseMessage(text.replace('^~\\&', '^~\\#'), LIMITS)).toThrow(Hl7Problem);
    expect(() => parseMessage('PID|1', LIMITS)).toThrow(/MSH/);
    expect(() => parseMessage(`${text}\r${text}`, LIMITS)).toThrow(/one message/);
    expect(() => parseMessage(text, { maxBytes: 10 })).toThrow(/limit/);
  });
});

describe('dates', () => {
  it('HL7 DTM ↔ FHIR', () => {
    expect(hl7ToFhirDateTime('20240229')).toBe('2024-02-29');
    expect(hl7ToFhirDateTime('20230229')).toBeUndefined();
    expect(hl7ToFhirDateTime('202401021530-0500')).toBe('2024-01-02T15:30:00-05:00');
    expect(fhirDateTimeToHl7('2024-01-02T15:30:00-05:00')).toBe('20240102153000-0500');
    expect(fhirDateTimeToHl7('2024-01-02')).toBe('20240102');
  });
});

describe('ACK', () => {
  it('ERR carries ERR-2 location, ERR-3 table 0357, ERR-4 severity, ERR-5 table 0533 and ERR-8 text', () => {
    const e = err({ severity: 'W', hl7Code: '101', appCode: '7', text: 'Lot | missing', location: { segment: 'RXA', sequence: 2, field: 15 } });
    expect(e.toString()).toBe('ERR||RXA^2^15^1|101^Required field missing^HL70357|W|7^Required data missing^HL70533|||Lot \\F\\ missing');
  });
  it('an ACK for an unreadable message still has MSH, MSA and MSH-21 Z23', () => {
    const ack = buildAck(undefined, 'AR', []);
    expect(ack).toMatch(/^MSH\|\^~\\&\|IIS\|/);
    expect(ack).toContain('|ACK^V04^ACK|');
    expect(ack).toContain('Z23^CDCPHINVS');
    expect(ack).toMatch(/\rMSA\|AR(\r|\|?$)/);
  });
  it('every data-quality rule code has its ERR mapping', () => {
    for (const rule of IIS_RULES) expect(RULE_MAP[rule.code], rule.code).toBeDefined();
  });
});

describe('parseSegment (the fast path of reading a segment)', () => {
  // Text made of the delimiters, the escape character and a few letters, so that empty fields,
  // repetitions, components and subcomponents of every shape come up.
  const line = fc
    .array(fc.constantFrom('|', '^', '~', '&', '\\', 'A', 'b', '1', ' ', ''), { maxLength: 60 })
    .map((parts) => `PID|${parts.join('')}`);
  const shape = (s: Hl7Segment) => ({ name: s.name, fields: s.fields.map((f) => f.components), text: s.toString() });

  it("reads every line as @medplum/core's Hl7Segment.parse does", () => {
    fc.assert(
      fc.property(line, (text) => {
        expect(shape(parseSegment(text))).toEqual(shape(Hl7Segment.parse(text, DEFAULT_CONTEXT)));
      }),
      { numRuns: 2000 }
    );
  });

  it('reads HL7\'s null ("") as empty, in a field, a component, a repetition or a subcomponent: never as the text ""', () => {
    const rxa = parseSegment('RXA|0|1|20240101||08^HepB^CVX|""|""^""^UCUM||||||||""|20300101|X&""&Y~""');
    expect(component(rxa, 6)).toBe('');
    expect(components(rxa, 7)).toEqual(['', '', 'UCUM']);
    expect(component(rxa, 15)).toBe('');
    expect(component(rxa, 17, 1, 0)).toBe('X&&Y');
    expect(component(rxa, 17, 1, 1)).toBe('');
    // A quote inside a value is text, not a null.
    expect(component(parseSegment('PID|1||X||O"Brien^""Sam""'), 5, 2)).toBe('""Sam""');
  });

  it('a "" first subcomponent marks its component as "" (deleted); a later "" subcomponent is only empty', () => {
    const pid = parseSegment('PID|1||M1^^^""&2.16.840.1&ISO^MR||""&van^Lauri~Koivu&""^Lauri||||||12 Main\\T\\Co&""&""^^Boston~""&Main St&12^^Quincy');
    expect(isHl7NullComponent(pid, 5, 1, 0)).toBe(true);
    expect(isHl7NullComponent(pid, 5, 1, 1)).toBe(false);
    expect(isHl7NullComponent(pid, 11, 1, 0)).toBe(false);
    expect(isHl7NullComponent(pid, 11, 1, 1)).toBe(true);
    // The part kept of such a component is its first subcomponent, unescaped: never `&`-joined text.
    expect(firstSubcomponents(pid, 5, 1)).toEqual(['Koivu', 'Lauri']);
    expect(firstSubcomponents(pid, 11, 0)).toEqual(['12 Main&Co', '', 'Boston']);
    expect(firstSubcomponents(pid, 11, 1)).toEqual(['', '', 'Quincy']);
    expect(components(pid, 3)[3]).toBe('&2.16.840.1&ISO');
  });

  it('reads MSH (its MSH-2 holds the repetition separator) as Hl7Segment.parse does', () => {
    const msh = 'MSH|^~\\&|APP|FAC|IIS|IISF|20240101||VXU^V04^VXU_V04|C1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS~Z23^X';
    expect(shape(parseSegment(msh))).toEqual(shape(Hl7Segment.parse(msh, DEFAULT_CONTEXT)));
  });

  it('built segments hold the fields Hl7Field.parse would give', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(undefined), fc.string({ maxLength: 8 }), fc.array(fc.option(fc.string({ maxLength: 5 }), { nil: undefined }), { maxLength: 4 })), { maxLength: 8 }), (fields) => {
        const built = segment('OBX', fields);
        const reparsed = new Hl7Segment(built.toString().split('|').map((t) => Hl7Field.parse(t, DEFAULT_CONTEXT)), DEFAULT_CONTEXT);
        expect(shape(built)).toEqual(shape(reparsed));
      }),
      { numRuns: 1000 }
    );
  });
});

describe('segmentText and buildAck (text written without building segments)', () => {
  const piece = fc.constantFrom('|', '^', '~', '&', '\\', '\r', '\n', '\t', 'A', 'b', '1', ' ', '', 'é');
  const text = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(''));
  const optionalText = fc.option(text, { nil: undefined });
  const value = fc.oneof(optionalText, fc.array(fc.oneof(optionalText, fc.array(optionalText, { maxLength: 3 })), { maxLength: 4 }));
  const field = fc.oneof({ weight: 4, arbitrary: value }, { weight: 1, arbitrary: fc.array(value, { maxLength: 3 }).map((repeat) => ({ repeat })) });
  const fields = fc.array(field, { maxLength: 24 });

  it('writes what segment(…).toString() writes, for MSH and other segments', () => {
    fc.assert(
      fc.property(fc.constantFrom('MSH', 'MSA', 'ERR', 'NTE'), fields, (name, f) => {
        expect(segmentText(name, f)).toBe(segment(name, f).toString());
      }),
      { numRuns: 1000 }
    );
  });

  const issue = fc.record({
    severity: fc.constantFrom('E', 'W', 'I') as fc.Arbitrary<'E' | 'W' | 'I'>,
    hl7Code: fc.constantFrom('101', '102', '207', '999'),
    appCode: fc.constantFrom('', '1', '4', '7'),
    text,
    location: fc.option(
      fc.record({ segment: fc.constantFrom('PID', 'RXA'), sequence: fc.nat(3), field: fc.option(fc.nat(20), { nil: undefined }), repetition: fc.option(fc.nat(3), { nil: undefined }), component: fc.option(fc.nat(5), { nil: undefined }) }),
      { nil: undefined }
    ),
  });
  // MSH-22/23 (responsible organizations, XON with an HD in component 6) or none.
  const organizations = fc.option(fc.tuple(text, text), { nil: undefined }).map((orgs) =>
    orgs ? `|||||||||Z22^CDCPHINVS|${escapeText(orgs[0])}^^^^^AA&2.16.840.1&ISO^XX^^^${escapeText(orgs[1])}|${escapeText(orgs[1])}` : ''
  );
  const header = fc.tuple(text, text, text, text, fc.constantFrom('V04', 'Q11', ''), fc.constantFrom('P', 'T', ''), organizations).map(
    ([app, fac, recvApp, recvFac, trigger, processing, orgs]) =>
      `MSH|^~\\&|${escapeText(app)}^x|${escapeText(fac)}|${escapeText(recvApp)}^${escapeText(recvFac)}^ISO|${escapeText(recvFac)}|20240101||VXU^${trigger}|C${escapeText(app)}|${processing}|2.5.1${orgs}`
  );
  // MSH-7 (now) and MSH-10 (a random id) differ between any two answers.
  const stable = (ack: string) => ack.replace(/^(MSH(?:\|[^|]*){5})\|[^|]*((?:\|[^|]*){2})\|[^|]*/, '$1|T$2|ID');

  it('buildAck writes the reference ACK (built segments), with and without a readable request', () => {
    fc.assert(
      fc.property(fc.option(header, { nil: undefined }), fc.constantFrom('AA', 'AE', 'AR') as fc.Arbitrary<'AA' | 'AE' | 'AR'>, fc.array(issue, { maxLength: 3 }), (msh, code, issues) => {
        const request = msh === undefined ? undefined : parseMessage(msh, LIMITS);
        const fast = buildAck(request, code, issues);
        const reference = buildAck(request, code, issues, { reference: true });
        expect(stable(fast)).toBe(stable(reference));
        expect(stable(fast)).not.toBe(fast); // the masking did mask MSH-7 and MSH-10
        // What a message being stored keeps for its ACK instead of the parsed message.
        const kept = request && ackRequestOf(request);
        expect(stable(buildAck(kept, code, issues))).toBe(stable(reference));
        expect(stable(buildAck(kept, code, issues, { reference: true }))).toBe(stable(reference));
      }),
      { numRuns: 500 }
    );
  });

  it('the current instant is written once per second, as for every call', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 20 }), fc.nat(999), (instants, offset) => {
        for (const ms of instants.flatMap((t) => [t, t - (t % 1000) + offset, t])) expect(hl7Instant(ms)).toBe(hl7InstantUncached(ms));
      })
    );
    expect(hl7InstantUncached(Date.UTC(2024, 1, 29, 13, 5, 9, 999))).toBe('20240229130509+0000');
    expect(nowHl7()).toMatch(/^\d{14}\+0000$/);
  });
});
