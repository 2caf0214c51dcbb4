// A patient's Conditions as the CDSi forecast reads them (evidence of immunity, contraindications,
// risk indications): the observation list from the server's CodeSystem/cdsi-observation (built from
// the CDSi supporting data it forecasts with; read once per session, as vaccines come from
// CodeSystem/cvx), suggestions by code or words, the Condition the form records, its rows on the
// record, and the changes a clinician may make (entered in error, resolved).
import { showDate } from './dates';
import type { Api } from './fhir';
import type { CodeSystem, Condition } from './fhir-types';

export const CDSI_OBSERVATION_SYSTEM = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
export const CLINICAL_SYSTEM = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
export const VERIFICATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
/** The facility that recorded a Condition (R4 Condition.recorder cannot name an Organization). */
export const RECORDING_ORGANIZATION_EXTENSION = 'https://iis-fhir-server.org/fhir/StructureDefinition/recording-organization';

const KIND_TEXT: Record<string, string> = {
  immunity: 'Evidence of immunity',
  contraindication: 'Contraindication',
  indication: 'Risk indication',
};

export interface Observation {
  code: string;
  title: string;
  /** What the forecast makes of it, in words (Evidence of immunity, Contraindication, Risk indication). */
  kinds: string[];
  antigens: string[];
  /** SNOMED / CDC PHIN VADS codes the supporting data maps to it. */
  mappedCodes: string[];
}

export function observationsOf(cs: CodeSystem): Observation[] {
  return (cs.concept ?? []).map((c) => {
    const props = c.property ?? [];
    return {
      code: c.code ?? '',
      title: c.display ?? c.code ?? '',
      kinds: props.filter((p) => p.code === 'kind' && p.valueCode).map((p) => KIND_TEXT[p.valueCode!] ?? p.valueCode!),
      antigens: props.filter((p) => p.code === 'antigen' && p.valueString).map((p) => p.valueString!),
      mappedCodes: props.filter((p) => p.code === 'mappedCode' && p.valueCoding?.code).map((p) => p.valueCoding!.code!),
    };
  });
}

let observationCache: Promise<Observation[]> | undefined;

export function loadObservations(api: Api): Promise<Observation[]> {
  observationCache ??= api.get<CodeSystem>('CodeSystem/cdsi-observation').then(observationsOf);
  observationCache.catch(() => (observationCache = undefined));
  return observationCache;
}

/** The label an option shows and the field holds once chosen. */
export function observationLabel(o: Observation): string {
  return `${o.code} ${o.title}`;
}

/** Up to `limit` observations whose code, title, antigens or mapped codes contain every word typed; an exact code first. */
export function suggestObservations(all: Observation[], text: string, limit = 15): Observation[] {
  const typed = text.trim();
  const words = typed.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  const exactCode = /^\d{1,3}$/.test(typed) ? typed.padStart(3, '0') : typed;
  const hits = all.filter((o) => {
    const hay = `${o.code} ${o.title} ${o.antigens.join(' ')} ${o.mappedCodes.join(' ')}`.toLowerCase();
    return words.every((w) => hay.includes(w)) || o.code === exactCode;
  });
  const rank = (o: Observation) => (o.code === exactCode || o.mappedCodes.includes(typed) ? 0 : o.title.toLowerCase().startsWith(words[0]!) ? 1 : 2);
  hits.sort((a, b) => rank(a) - rank(b) || a.code.localeCompare(b.code));
  return hits.slice(0, limit);
}

/** What was typed or chosen, read back as an observation: a chosen label, a bare code (007 or 7), a mapped code, or an exact title. */
export function resolveObservation(all: Observation[], text: string): Observation | undefined {
  const value = text.trim();
  if (!value) return undefined;
  const labelled = all.find((o) => observationLabel(o) === value);
  if (labelled) return labelled;
  const code = /^\d{1,3}$/.test(value) ? value.padStart(3, '0') : value;
  return (
    all.find((o) => o.code === code) ??
    all.find((o) => o.mappedCodes.includes(value)) ??
    all.find((o) => o.title.toLowerCase() === value.toLowerCase())
  );
}

/** The Condition the form records: the CDSi observation, active and confirmed, since `onset`, by the user's facility. */
export function newCondition(patientId: string, observation: Observation, onset: string, organization: string | undefined, recordedAt = new Date()): Condition {
  return {
    resourceType: 'Condition',
    ...(organization ? { extension: [{ url: RECORDING_ORGANIZATION_EXTENSION, valueReference: { reference: organization } }] } : {}),
    clinicalStatus: { coding: [{ system: CLINICAL_SYSTEM, code: 'active', display: 'Active' }] },
    verificationStatus: { coding: [{ system: VERIFICATION_SYSTEM, code: 'confirmed', display: 'Confirmed' }] },
    code: { coding: [{ system: CDSI_OBSERVATION_SYSTEM, code: observation.code, display: observation.title }], text: observation.title },
    subject: { reference: `Patient/${patientId}` },
    onsetDateTime: onset,
    recordedDate: recordedAt.toISOString(),
  };
}

export type ConditionChange = 'resolved' | 'entered-in-error';

/**
 * The Condition after a change, for a PUT with If-Match: resolved (clinicalStatus resolved, abated
 * on `on`), or entered in error (verificationStatus entered-in-error; FHIR's con-5 then forbids a
 * clinicalStatus). Everything else is kept as it was.
 */
export function changedCondition(condition: Condition, change: ConditionChange, on: string): Condition {
  if (change === 'resolved') {
    return { ...condition, clinicalStatus: { coding: [{ system: CLINICAL_SYSTEM, code: 'resolved', display: 'Resolved' }] }, abatementDateTime: on };
  }
  const { clinicalStatus: _dropped, ...rest } = condition;
  return { ...rest, verificationStatus: { coding: [{ system: VERIFICATION_SYSTEM, code: 'entered-in-error', display: 'Entered in error' }] } };
}

export interface ConditionRow {
  id: string;
  what: string;
  /** CDSi code, or the code as recorded. */
  code: string;
  kinds: string[];
  since?: string;
  status: string;
  /** Still holds: not entered in error, refuted, resolved or inactive. */
  current: boolean;
  /** The recording facility's reference, where the data carries it. */
  organization?: string;
  /** Actions that make sense for it now. */
  canResolve: boolean;
  canMarkError: boolean;
}

const coded = (concept: Condition['clinicalStatus']) => concept?.coding?.[0]?.code;

export function conditionRows(conditions: Condition[], observations: Observation[]): ConditionRow[] {
  const byCode = new Map(observations.map((o) => [o.code, o]));
  const rows = conditions.map((c): ConditionRow => {
    const cdsi = c.code?.coding?.find((x) => x.system === CDSI_OBSERVATION_SYSTEM && x.code);
    // A SNOMED / CDC PHIN VADS code the supporting data maps (e.g. from an EHR) reads as its observation.
    const mapped = cdsi ? undefined : (c.code?.coding ?? []).map((x) => (x.code ? observations.find((o) => o.mappedCodes.includes(x.code!)) : undefined)).find(Boolean);
    const observation: Observation | undefined = (cdsi?.code ? (byCode.get(cdsi.code) ?? byCode.get(cdsi.code.padStart(3, '0'))) : undefined) ?? mapped;
    const verification = coded(c.verificationStatus);
    const clinical = coded(c.clinicalStatus);
    const error = verification === 'entered-in-error';
    const refuted = verification === 'refuted';
    const ended = clinical === 'resolved' || clinical === 'inactive';
    const status = error ? 'Entered in error' : refuted ? 'Refuted' : clinical ? clinical[0]!.toUpperCase() + clinical.slice(1) : 'Recorded';
    const organization = c.extension?.find((e) => e.url === RECORDING_ORGANIZATION_EXTENSION)?.valueReference;
    return {
      id: c.id ?? '',
      what: observation?.title ?? c.code?.text ?? c.code?.coding?.[0]?.display ?? c.code?.coding?.[0]?.code ?? 'Condition',
      code: observation?.code ?? cdsi?.code ?? c.code?.coding?.[0]?.code ?? '—',
      kinds: observation?.kinds ?? [],
      since: c.onsetDateTime ?? c.recordedDate,
      status: ended && c.abatementDateTime ? `${status} ${showDate(c.abatementDateTime)}` : status,
      current: !error && !refuted && !ended,
      organization: organization?.display ?? organization?.reference,
      // Evidence of immunity does not end: the history of the disease is the evidence.
      canResolve: !error && !refuted && !ended && !(observation && observation.kinds.length > 0 && observation.kinds.every((k) => k === KIND_TEXT.immunity)),
      canMarkError: !error,
    };
  });
  // Current ones first, then by onset, newest first.
  return rows.sort((a, b) => Number(b.current) - Number(a.current) || (b.since ?? '').localeCompare(a.since ?? ''));
}
