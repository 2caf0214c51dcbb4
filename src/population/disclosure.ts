// The audit of the patients a reminder/recall answer gives out when they are not in a FHIR body the
// pipeline audits on the way out (a JSON page's Patients are: its event names them). A streamed CSV
// leaves after the request's AuditEvent was recorded, and a job's files are written long after its
// kick-off; so their patients are audited as they are produced, in chunks: one more AuditEvent per
// DISCLOSURE_CHUNK patients, with the request's caller, query and request id (the link to the
// request's own event), the patients as entities (role Patient, as for a search) and, in its
// outcomeDesc, which part of which answer it is. Only one chunk of references is held at a time.

/** Patients named per AuditEvent: a 100,000-patient list is 100 events, never one huge list. */
export const DISCLOSURE_CHUNK = 1000;

/** Records one AuditEvent naming these patients (`Patient/<id>`), `description` in its outcomeDesc. */
export type RecordDisclosure = (patientRefs: string[], description: string) => void;

/** Collects the patients of an answer as it is produced and audits them chunk by chunk. */
export class PatientDisclosures {
  private refs: string[] = [];
  private recorded = 0;
  private part = 0;

  /** `answer` names what gives them out, e.g. `$reminder-recall CSV`. */
  constructor(
    private readonly record: RecordDisclosure,
    private readonly answer: string,
    private readonly chunk = DISCLOSURE_CHUNK
  ) {}

  /** A patient whose data is in the answer; an event is recorded once a chunk is full. */
  add(patientId: string): void {
    this.refs.push(`Patient/${patientId}`);
    if (this.refs.length >= this.chunk) this.flush();
  }

  /** Records the patients added since the last event (call when the answer ends, however it ends). */
  flush(): void {
    if (this.refs.length === 0) return;
    const first = this.recorded + 1;
    this.recorded += this.refs.length;
    this.part++;
    this.record(this.refs, `${this.answer}: patients ${first}-${this.recorded} (part ${this.part})`);
    this.refs = [];
  }
}
