// One problem found in a message: what becomes one ERR segment of the acknowledgement.
// ERR-2 location, ERR-3 HL7 table 0357, ERR-4 severity (table 0516), ERR-5 CDC table 0533,
// ERR-8 the user message (the same sentence as the FHIR OperationOutcome issue it comes from).

/** ERR-2 (ERL): segment id, its ordinal, field, repetition, component, subcomponent. */
export interface ErrorLocation {
  segment: string;
  sequence: number;
  field?: number;
  repetition?: number;
  component?: number;
}

export type Hl7Severity = 'E' | 'W' | 'I';

export interface Hl7Issue {
  severity: Hl7Severity;
  /** HL7 table 0357 message error condition code. */
  hl7Code: string;
  /** CDC table 0533 application error code. */
  appCode: string;
  text: string;
  location?: ErrorLocation;
  /** The IIS rule code behind it, when it comes from a data-quality rule. */
  ruleCode?: string;
}

/** HL7 table 0357 codes this server reports. */
export const HL7_0357: Record<string, string> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

/** CDC table 0533 application error codes. */
export const CDC_0533: Record<string, string> = {
  '1': 'Illogical Date error',
  '2': 'Invalid Date',
  '3': 'Illogical Value error',
  '4': 'Invalid value',
  '5': 'Table value not found',
  '6': 'Required observation missing',
  '7': 'Required data missing',
  '8': 'Data was ignored',
};

/** A problem that rejects the whole message (AR): thrown while reading it. */
export class Hl7Problem extends Error {
  readonly issue: Hl7Issue;
  /** HTTP status for the plain HTTP transport (413 for size, 400 otherwise). */
  readonly httpStatus: number;

  constructor(issue: Omit<Hl7Issue, 'severity'> & { severity?: Hl7Severity }, httpStatus = 400) {
    super(issue.text);
    this.name = 'Hl7Problem';
    this.issue = { severity: 'E', ...issue };
    this.httpStatus = httpStatus;
  }
}

export function isHl7Problem(err: unknown): err is Hl7Problem {
  return err instanceof Hl7Problem;
}
