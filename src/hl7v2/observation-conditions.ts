// A Condition made from a dose's OBX 59784-9 / 30945-0 follows that dose: once no dose it names in
// `evidence.detail` carries the observation any more — the dose deleted (FHIR DELETE, a VXU with
// RXA-21 D, a transaction entry), marked entered in error, or updated (a VXU resend, a FHIR PUT or
// PATCH) without that OBX — the Condition is marked entered in error, in the same store transaction
// as the change that caused it (a follow-up of the Immunization write, RuleRegistry.registerFollowUp).
//
// Why entered in error rather than deleted, refuted or resolved: the submitter withdrew what it had
// reported (RXA-21 D is "this record was sent in error"; a resend without the OBX is its corrected
// record), so the statement the registry derived from it is no longer valid — FHIR's
// `entered-in-error` ("the statement was entered in error and is not valid"). `refuted` would claim
// a clinician ruled the condition out, and `resolved` keeps a disease history counting as evidence
// of immunity. A new version, not a delete: `_history` and the audit trail keep what was asserted
// and when it stopped, and the forecast, Z32/Z42 and the web app already leave such Conditions out.
//
// Untouched: a Condition recorded any other way (FHIR, the clinic web app: no
// `hl7v2-observation` identifier), one already entered in error or refuted, and one another dose it
// names still reports (or that names evidence other than doses). A write without an
// evidence-of-immunity / contraindication extension on the dose it replaces costs nothing here (no
// read): the VXU hot path's doses carry none.
import type { CodeableConcept, Condition, Extension, Immunization, Resource } from '@medplum/fhirtypes';
import { OBSERVATION_EXTENSIONS } from '../forecast/fhir.js';
import type { FollowUp, FollowUpContext, FollowUpWrite, WriteChange } from '../validation/business-rules.js';
import { CONDITION_VERIFICATION, OBSERVATION_KEY_SYSTEM } from './vxu-to-fhir.js';

/**
 * Where a retired Condition's `hl7v2-observation` identifier moves: it no longer stands for that
 * OBX, so the same OBX sent again later (the submitter reports it anew) makes a new Condition by
 * the VXU's conditional create, while one a clinician marked entered in error (its identifier kept)
 * is never reopened by a resend.
 */
export const WITHDRAWN_OBSERVATION_KEY_SYSTEM = 'https://iis-fhir-server.org/fhir/sid/hl7v2-observation-withdrawn';

/** The most Conditions of one patient looked at for one dose's change. */
const MAX_CONDITIONS = 1000;

/** RuleRegistry follow-up of Immunization writes (registered by src/server.ts). */
export const retireWithdrawnObservationConditions: FollowUp = async (change, ctx) => {
  const previous = change.previous as Immunization | undefined;
  if (!previous || !carriesObservation(previous)) return [];
  const next = change.next as Immunization | undefined;
  if (next && !withdrawsAny(previous, next)) return [];
  const patient = previous.patient?.reference;
  if (!patient) return [];
  const dose = `Immunization/${change.id}`;
  const candidates = await ctx.store.search('Condition', { filter: { 's.patient': patient }, limit: MAX_CONDITIONS });
  const rewrites: FollowUpWrite[] = [];
  for (const current of candidates) {
    const condition = current.resource as Condition | undefined;
    if (!condition || !madeFromObservation(condition) || !stillAsserted(condition)) continue;
    const doses = evidenceReferences(condition);
    if (!doses.includes(dose)) continue;
    if (await reportedElsewhere(condition, doses, change, ctx)) continue;
    rewrites.push({ current, resource: withdrawn(condition, dose, next ? 'resent without this observation' : 'deleted') });
  }
  return rewrites;
};

/** The dose's evidence-of-immunity / contraindication extensions. */
function observationExtensions(dose: Immunization): Extension[] {
  return (dose.extension ?? []).filter((e) => (OBSERVATION_EXTENSIONS as readonly string[]).includes(e.url));
}

function carriesObservation(dose: Immunization): boolean {
  if (!dose.extension) return false;
  for (const e of dose.extension) if ((OBSERVATION_EXTENSIONS as readonly string[]).includes(e.url)) return true;
  return false;
}

/** The update drops (or changes) an observation the stored dose carried, or marks the dose entered in error. */
function withdrawsAny(previous: Immunization, next: Immunization): boolean {
  if (next.status === 'entered-in-error') return true;
  const kept = new Set(observationExtensions(next).map((e) => JSON.stringify([e.url, codings(e.valueCodeableConcept)])));
  return observationExtensions(previous).some((e) => !kept.has(JSON.stringify([e.url, codings(e.valueCodeableConcept)])));
}

const codings = (concept: CodeableConcept | undefined): string[] => (concept?.coding ?? []).map((c) => `${c.system ?? ''}|${c.code ?? ''}`).sort();

function madeFromObservation(condition: Condition): boolean {
  return condition.identifier?.some((i) => i.system === OBSERVATION_KEY_SYSTEM) ?? false;
}

/** Neither entered in error nor refuted already. */
function stillAsserted(condition: Condition): boolean {
  const code = condition.verificationStatus?.coding?.find((c) => c.system === CONDITION_VERIFICATION)?.code;
  return code !== 'entered-in-error' && code !== 'refuted';
}

/** Every `evidence.detail` reference (`Immunization/<id>` for a dose). */
function evidenceReferences(condition: Condition): string[] {
  const out: string[] = [];
  for (const evidence of condition.evidence ?? []) for (const detail of evidence.detail ?? []) if (detail.reference) out.push(detail.reference);
  return out;
}

/**
 * Whether the observation still stands on other evidence: another dose it names still carries it
 * (as it will be once this commit lands), or evidence that is not a dose (someone added it: not ours
 * to judge). A dose the caller may not see counts as still reporting it (nothing is changed blind).
 */
async function reportedElsewhere(condition: Condition, references: string[], change: WriteChange, ctx: FollowUpContext): Promise<boolean> {
  const own = `Immunization/${change.id}`;
  if (change.next && reports(change.next as Immunization, condition)) return true;
  for (const reference of references) {
    if (reference === own) continue;
    if (!reference.startsWith('Immunization/')) return true;
    let other: Resource | undefined;
    try {
      other = await ctx.resolve(reference);
    } catch {
      return true;
    }
    if (other && reports(other as Immunization, condition)) return true;
  }
  return false;
}

/** The dose (not entered in error) carries an observation extension whose coded value the Condition carries. */
function reports(dose: Immunization, condition: Condition): boolean {
  if (dose.status === 'entered-in-error') return false;
  const carried = new Set(codings(condition.code));
  return observationExtensions(dose).some((e) => {
    const sent = codings(e.valueCodeableConcept);
    return sent.length > 0 && sent.every((c) => carried.has(c));
  });
}

/** The Condition marked entered in error (R4 con-5: no clinicalStatus then), its OBX key withdrawn, with a note saying why. */
function withdrawn(condition: Condition, dose: string, why: string): Condition {
  const { clinicalStatus: _ended, ...rest } = condition;
  return {
    ...rest,
    identifier: (condition.identifier ?? []).map((i) => (i.system === OBSERVATION_KEY_SYSTEM ? { ...i, system: WITHDRAWN_OBSERVATION_KEY_SYSTEM } : i)),
    verificationStatus: { coding: [{ system: CONDITION_VERIFICATION, code: 'entered-in-error', display: 'Entered in Error' }] },
    note: [...(condition.note ?? []), { time: new Date().toISOString(), text: `Entered in error by the registry: ${dose}, whose HL7 v2 observation it was recorded from, was ${why}.` }],
  };
}
