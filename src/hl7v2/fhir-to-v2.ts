// FHIR → HL7 v2 segments for responses (RSP Z32/Z31/Z42): PID, PD1, NK1 from the Patient and its
// data-sharing status, ORC/RXA/RXR/OBX from each Immunization. The inverse of vxu-to-fhir.ts: a
// message's core data elements (CDC guide Table A-2) come back as they were sent.
import type { Hl7Segment } from '@medplum/core';
import type { Address, CodeableConcept, Condition, ContactPoint, Extension, HumanName, Identifier, Immunization, Patient } from '@medplum/fhirtypes';
import { CDCPHINVS_SYSTEMS, conditionObservations, cvxOf, observationCodesOf, observationCodesOfConcept, SNOMED_SYSTEM } from '../forecast/fhir.js';
import { parseIsoDate } from '../forecast/dates.js';
import type { SupportingData } from '../forecast/supporting-data.js';
import type { DataSharing } from '../consent/data-sharing.js';
import { ceFrom, codingOf, CVX, nameFor, NDC, TABLE_BASE } from './codes.js';
import { fhirDateTimeToHl7, fhirDateToHl7, segment, subcomponents, type FieldValue } from './er7.js';
import { authorityOf, DOSE_KEY_SYSTEM, isRegistryIdentifier, REGISTRY_AUTHORITY, REGISTRY_ID_TYPE, SSN_SYSTEM } from './identifiers.js';
import { ADDRESS_USE, EXT, LOINC_OBX, NAME_USE, PERFORMER_FUNCTION, VIS_BY_VACCINE_TYPE } from './vxu-to-fhir.js';

const NAME_TYPE: Record<string, string> = Object.fromEntries(
  Object.entries(NAME_USE)
    .filter(([code]) => ['L', 'A', 'M', 'D', 'U'].includes(code))
    .map(([code, use]) => [use as string, code])
);

// ---- Patient ---------------------------------------------------------------------------------

export function pidSegment(patient: Patient, setId = 1): Hl7Segment {
  const ids = (patient.identifier ?? []).filter((i) => i.value && i.system !== DOSE_KEY_SYSTEM && !isRegistryIdentifier(i)).map(cx);
  // PID-3 is required (usage R): the registry's own id is always there, after the submitters' ones.
  if (patient.id) ids.push([patient.id, undefined, undefined, [REGISTRY_AUTHORITY], REGISTRY_ID_TYPE]);
  const names = (patient.name ?? []).filter((n) => n.use !== 'old').sort((a, b) => Number(b.use === 'official') - Number(a.use === 'official'));
  const ext = (url: string) => patient.extension?.find((e) => e.url === url);
  const maiden = ext(EXT.mothersMaidenName)?.valueString;
  const race = usCoreCodes(ext(EXT.race));
  const ethnicity = usCoreCodes(ext(EXT.ethnicity));
  const phones = (patient.telecom ?? []).filter((t) => t.use !== 'work' || t.system === 'email').map(xtn).filter(Boolean) as FieldValue[];
  const workPhones = (patient.telecom ?? []).filter((t) => t.use === 'work' && t.system !== 'email').map(xtn).filter(Boolean) as FieldValue[];
  const multiple = patient.multipleBirthInteger !== undefined ? 'Y' : patient.multipleBirthBoolean === undefined ? undefined : patient.multipleBirthBoolean ? 'Y' : 'N';
  return segment('PID', [
    String(setId),
    undefined,
    { repeat: ids },
    undefined,
    { repeat: names.map(xpn) },
    maiden ? [maiden, undefined, undefined, undefined, undefined, undefined, 'M'] : undefined,
    fhirDateToHl7(patient.birthDate),
    ({ female: 'F', male: 'M', unknown: 'U', other: 'X' } as Record<string, string>)[patient.gender ?? ''],
    undefined,
    { repeat: race },
    { repeat: (patient.address ?? []).map(xad) },
    undefined,
    { repeat: phones },
    { repeat: workPhones },
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    { repeat: ethnicity },
    undefined,
    multiple,
    patient.multipleBirthInteger !== undefined ? String(patient.multipleBirthInteger) : undefined,
    undefined,
    undefined,
    undefined,
    fhirDateTimeToHl7(patient.deceasedDateTime),
    patient.deceasedDateTime || patient.deceasedBoolean ? 'Y' : patient.deceasedBoolean === false ? 'N' : undefined,
  ]);
}

/** PD1 with the publicity code, the data-sharing status (PD1-12/13) and the registry status. */
export function pd1Segment(patient: Patient, sharing: { status: DataSharing['status']; since?: string } | undefined): Hl7Segment | undefined {
  const ext = (url: string) => patient.extension?.find((e) => e.url === url);
  const publicity = ceFrom(ext(EXT.publicity)?.valueCodeableConcept);
  const registry = ext(EXT.registryStatus)?.valueCodeableConcept?.coding?.[0]?.code;
  const protection = sharing?.status === 'no' ? 'Y' : sharing?.status === 'yes' && sharing.since ? 'N' : undefined;
  if (!publicity && !registry && !protection) return undefined;
  return segment('PD1', [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    publicity,
    protection,
    protection ? fhirDateToHl7(sharing?.since) : undefined,
    undefined,
    undefined,
    registry,
    fhirDateToHl7(ext(EXT.registryStatusDate)?.valueDate),
    fhirDateToHl7(ext(EXT.publicityDate)?.valueDate),
  ]);
}

export function nk1Segments(patient: Patient): Hl7Segment[] {
  return (patient.contact ?? []).map((contact, i) =>
    segment('NK1', [
      String(i + 1),
      contact.name ? xpn(contact.name) : undefined,
      ceFrom(contact.relationship?.[0]),
      contact.address ? xad(contact.address) : undefined,
      { repeat: (contact.telecom ?? []).map(xtn).filter(Boolean) as FieldValue[] },
    ])
  );
}

function cx(identifier: Identifier): FieldValue {
  const type = identifier.type?.coding?.[0]?.code ?? (identifier.system === SSN_SYSTEM ? 'SS' : undefined);
  const { namespace, universalId, universalIdType } = authorityOf(identifier);
  const authority = universalId ? [namespace, universalId, universalIdType] : [namespace];
  return [identifier.value, undefined, undefined, authority, type];
}

function xpn(name: HumanName): FieldValue {
  const [given, ...middle] = name.given ?? [];
  return [name.family, given, middle.join(' ') || undefined, name.suffix?.[0], name.prefix?.[0], undefined, NAME_TYPE[name.use ?? ''] ?? (name.use ? undefined : 'L')];
}

function xad(address: Address): FieldValue {
  const sent = address.extension?.find((e) => e.url === EXT.addressType)?.valueCode;
  const type =
    sent ??
    Object.entries(ADDRESS_USE).find(([, v]) => v.use === address.use && v.type === address.type)?.[0] ??
    (address.use === 'home' ? 'H' : undefined);
  return [address.line?.[0], address.line?.[1], address.city, address.state, address.postalCode, address.country, type, undefined, address.district];
}

function xtn(telecom: ContactPoint): FieldValue | undefined {
  if (!telecom.value) return undefined;
  if (telecom.system === 'email') return [undefined, 'NET', 'Internet', telecom.value];
  // A VXU's XTN-5 country code and XTN-8 extension are kept as `+1 ` and ` x12` around the number
  // (vxu-to-fhir.ts readPhone): they go back to their components, not into XTN-1, which the CDC
  // guide does not support.
  const [, country, number, extension] = /^(?:\+(\d+) )?(.*?)(?: x(\S+))?$/.exec(telecom.value.trim()) ?? [];
  const digits = (number ?? telecom.value).replace(/\D/g, '');
  const use = telecom.use === 'work' ? 'WPN' : 'PRN';
  const equipment = telecom.system === 'fax' ? 'FX' : telecom.use === 'mobile' ? 'CP' : 'PH';
  if (digits.length === 10) return [undefined, use, equipment, undefined, country, digits.slice(0, 3), digits.slice(3), extension];
  return [telecom.value, use, equipment];
}

function usCoreCodes(extension: Extension | undefined): FieldValue[] {
  return (extension?.extension ?? [])
    .filter((e) => e.url === 'ombCategory' || e.url === 'detailed')
    .map((e) => [e.valueCoding?.code, e.valueCoding?.display, nameFor(e.valueCoding?.system) ?? 'CDCREC']);
}

// ---- Immunization ----------------------------------------------------------------------------

const NIP001_NEW = ['00', 'New immunization record', 'NIP001'];

/** ORC, RXA, RXR and OBX segments of one dose. `orderNumber` numbers ORC-1 groups in the response. */
export function doseSegments(imm: Immunization): Hl7Segment[] {
  const filler = imm.identifier?.find((i) => !i.type?.coding?.some((c) => c.code === 'PLAC'));
  const placer = imm.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'PLAC'));
  const ext = (url: string) => imm.extension?.filter((e) => e.url === url) ?? [];
  const performer = (code: string) => imm.performer?.find((p) => p.function?.coding?.some((c) => c.system === PERFORMER_FUNCTION && c.code === code));
  const xcnOf = (p: ReturnType<typeof performer>): FieldValue =>
    p ? (storedXcn(p.extension?.find((e) => e.url === EXT.xcn)?.valueString) ?? [p.actor.identifier?.value, p.actor.display]) : undefined;
  const entered = ext(EXT.enteredBy)[0]?.valueString;
  const orc = segment('ORC', [
    'RE',
    placer ? ei(placer) : undefined,
    filler && filler.system !== DOSE_KEY_SYSTEM ? ei(filler) : ['9999', 'IIS'],
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    storedXcn(entered),
    undefined,
    xcnOf(performer('OP')),
  ]);

  const historical = imm.primarySource === false;
  const occurrence = fhirDateTimeToHl7(imm.occurrenceDateTime);
  const completion = completionOf(imm);
  const vaccine = ceFrom(orderedVaccineCode(imm.vaccineCode));
  const amount = imm.doseQuantity?.value !== undefined ? String(imm.doseQuantity.value) : '999';
  const units = imm.doseQuantity?.code ? [imm.doseQuantity.code, imm.doseQuantity.unit, nameFor(imm.doseQuantity.system) ?? 'UCUM'] : undefined;
  const location = ext(EXT.administeredAt)[0]?.valueString;
  const rxa = segment('RXA', [
    '0',
    '1',
    occurrence,
    // RXA-4, end of administration: the CDC guide has it the same as RXA-3 (a dose is given at once).
    occurrence,
    vaccine,
    amount,
    units,
    undefined,
    ceFrom(imm.reportOrigin) ?? (historical ? ['01', 'Historical information - source unspecified', 'NIP001'] : NIP001_NEW),
    xcnOf(performer('AP')),
    // RXA-11.4 as sent (its ER7 text: vxu-to-fhir), its subcomponents unescaped to be written again.
    location ? [undefined, undefined, undefined, subcomponents(location)] : undefined,
    undefined,
    undefined,
    undefined,
    imm.lotNumber,
    fhirDateToHl7(imm.expirationDate),
    imm.manufacturer?.identifier?.value ? [imm.manufacturer.identifier.value, imm.manufacturer.display, nameFor(imm.manufacturer.identifier.system) ?? 'MVX'] : undefined,
    refusalReasonOf(imm, completion),
    undefined,
    completion,
    'A',
    fhirDateTimeToHl7(imm.recorded),
  ]);
  const out = [orc, rxa];
  if (imm.route || imm.site) out.push(segment('RXR', [ceFrom(imm.route), ceFrom(imm.site)]));
  out.push(...observationSegments(imm, occurrence));
  return out;
}

function ei(identifier: Identifier): FieldValue {
  const { namespace, universalId, universalIdType } = authorityOf(identifier);
  return [identifier.value, namespace, universalId, universalIdType];
}

/**
 * An XCN kept as sent (vxu-to-fhir storedXcnText): a component's text, or its subcomponents'. A
 * text holding `&` is a record stored before subcomponents were kept apart: the component as
 * sent, raw (escapes unread), so split and unescaped — never written back `\T\`-escaped.
 */
function storedXcn(raw: string | undefined): FieldValue | undefined {
  if (!raw) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return undefined;
    return parsed.map((c) => {
      if (typeof c === 'string') return c.includes('&') ? subcomponents(c) : c;
      return Array.isArray(c) ? c.map((s) => (typeof s === 'string' ? s : '')) : '';
    });
  } catch {
    return undefined;
  }
}

const NIP002 = `${TABLE_BASE}NIP002`;

/**
 * RXA-18 (refusal reason, CDC table NIP002; required with RXA-20 RE). A reason in NIP002 goes back
 * as sent. A refusal recorded otherwise — FHIR's PATOBJ "patient objection", the reason stored for
 * an RE sent without RXA-18, or another code a FHIR client chose — is NIP002 02 "Other" with that
 * reason's text: a code outside the table is not an RXA-18 value. A dose not given for another
 * reason (NA: immune, medical precaution, out of stock) has no refusal reason.
 */
function refusalReasonOf(imm: Immunization, completion: string): string[] | undefined {
  if (completion !== 'RE' && completion !== 'NA') return undefined;
  const reason = imm.statusReason;
  if (reason?.coding?.some((c) => c.system === NIP002)) return ceFrom(reason, NIP002);
  if (completion === 'NA') return undefined;
  return ['02', reason?.text ?? reason?.coding?.[0]?.display ?? 'Other', 'NIP002'];
}

/** CVX first, then NDC (RXA-5 carries two codes; others after). */
function orderedVaccineCode(concept: CodeableConcept): CodeableConcept {
  const cvx = codingOf(concept, CVX);
  const ndc = codingOf(concept, NDC);
  const first = concept.coding?.[0];
  if (first && (first === cvx || first === ndc)) return concept;
  return { ...concept, coding: [cvx, ndc, ...(concept.coding ?? []).filter((c) => c !== cvx && c !== ndc)].filter((c) => !!c) };
}

function completionOf(imm: Immunization): string {
  if (imm.status === 'not-done') {
    const reason = imm.statusReason?.coding?.[0];
    const refusal = reason?.code === 'PATOBJ' || /NIP002$/.test(reason?.system ?? '');
    return refusal ? 'RE' : 'NA';
  }
  if (imm.isSubpotent) return 'PA';
  return 'CP';
}

/** OBX-17 of 64994-7: CDC PHIN VADS "eligibility captured at the immunization level". */
const ELIGIBILITY_PER_DOSE = ['VXC40', 'Eligibility captured at the immunization level', 'CDCPHINVS'];

function observationSegments(imm: Immunization, date: string | undefined): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  let setId = 0;
  let subId = 0;
  const obx = (valueType: string, code: string, name: string, value: FieldValue, group: number, observed = date, method?: FieldValue) => {
    setId += 1;
    out.push(segment('OBX', [String(setId), valueType, [code, name, 'LN'], String(group), value, undefined, undefined, undefined, undefined, undefined, 'F', undefined, undefined, observed, undefined, undefined, method]));
  };
  // OBX-17 is required with 64994-7 (CDC guide release 1.5): the eligibility is kept per dose, so VXC40.
  for (const eligibility of imm.programEligibility ?? []) obx('CE', LOINC_OBX.fundingEligibility, 'Vaccine funding program eligibility category', ceFrom(eligibility), ++subId, date, ELIGIBILITY_PER_DOSE);
  if (imm.fundingSource) obx('CE', LOINC_OBX.fundingSource, 'Vaccine funding source', ceFrom(imm.fundingSource), ++subId);
  for (const vis of imm.education ?? []) {
    const group = ++subId;
    const vaccineType = vis.extension?.find((e) => e.url === EXT.visVaccineType)?.valueCodeableConcept;
    if (vaccineType) obx('CE', LOINC_OBX.vaccineType, 'Vaccine Type', ceFrom(vaccineType), group);
    if (vis.documentType && !vis.documentType.startsWith(VIS_BY_VACCINE_TYPE)) obx('CE', LOINC_OBX.visDocument, 'Document type', [vis.documentType, undefined, 'cdcgs1vis'], group);
    if (vis.publicationDate) obx('TS', LOINC_OBX.visPublished, 'Date Vis Published', fhirDateTimeToHl7(vis.publicationDate), group);
    if (vis.presentationDate) obx('TS', LOINC_OBX.visPresented, 'Date Vis Presented', fhirDateTimeToHl7(vis.presentationDate), group);
  }
  for (const e of imm.extension ?? []) {
    if (e.url === EXT.evidenceOfImmunity) obx('CE', LOINC_OBX.evidenceOfImmunity, 'Patient immunity', ceFrom(e.valueCodeableConcept), ++subId);
    if (e.url === EXT.contraindication) obx('CE', LOINC_OBX.contraindication, 'Contraindication', ceFrom(e.valueCodeableConcept), ++subId);
  }
  for (const reaction of imm.reaction ?? []) {
    const concept = reaction.extension?.find((e) => e.url === EXT.reactionCode)?.valueCodeableConcept ?? { text: reaction.detail?.display };
    obx('CE', LOINC_OBX.reaction, 'Reaction', ceFrom(concept), ++subId, fhirDateTimeToHl7(reaction.date) ?? date);
  }
  return out;
}

// ---- Conditions ------------------------------------------------------------------------------

const OBSERVATION_OBX = {
  immunity: { code: LOINC_OBX.evidenceOfImmunity, name: 'Patient immunity', prefer: 'SCT' },
  contraindication: { code: LOINC_OBX.contraindication, name: 'Contraindication', prefer: 'CDCPHINVS' },
} as const;

/**
 * The patient's Conditions that the forecast takes as evidence of immunity or a contraindication
 * on `assessmentDate` (recorded over FHIR, in the clinic web app, or from an OBX), as the CDC guide
 * reports an observation without a dose: per Condition an ORC, an RXA 998 "no vaccine administered"
 * (RXA-20 NA) dated by its onset, and an OBX 59784-9 / 30945-0. A Condition recorded from a dose's
 * OBX whose dose still carries it (its `evidence.detail`) is left out: that OBX comes back with
 * the dose, as it was sent. Risk indications have no OBX in the guide and are not listed.
 */
export function conditionSegments(conditions: Condition[], immunizations: Immunization[], assessmentDate: string, data: SupportingData): Hl7Segment[] {
  const day = parseIsoDate(assessmentDate);
  if (day === undefined) return [];
  const byReference = new Map(immunizations.map((imm) => [`Immunization/${imm.id}`, imm]));
  // The vaccines of the doses a Condition was reported with: a code meaning "this vaccine" (VXC20) reads as theirs.
  const dosesOf = (condition: Condition) =>
    (condition.evidence ?? []).flatMap((e) => e.detail ?? []).map((d) => byReference.get(d.reference ?? '')).filter((imm): imm is Immunization => imm !== undefined);
  const vaccinesOf = (condition: Condition) => dosesOf(condition).map(cvxOf).filter((cvx): cvx is string => cvx !== undefined);
  const carriedByDose = (condition: Condition): boolean => {
    const codes = new Set(observationCodesOf(condition, data, vaccinesOf(condition)));
    return dosesOf(condition).some((dose) =>
      (dose.extension ?? []).some((x) => {
        if (x.url !== EXT.evidenceOfImmunity && x.url !== EXT.contraindication) return false;
        const vaccine = cvxOf(dose);
        return observationCodesOfConcept(x.valueCodeableConcept, data, vaccine ? [vaccine] : undefined).some((c) => codes.has(c));
      })
    );
  };
  const listed = conditions
    .map((condition) => ({ condition, kinds: conditionObservations(condition, day, data, vaccinesOf(condition)), date: condition.onsetDateTime ?? condition.recordedDate }))
    .filter(({ condition, kinds }) => (kinds.immunity.length > 0 || kinds.contraindication.length > 0) && !carriedByDose(condition))
    .sort((a, b) => (a.date ?? '').localeCompare(b.date ?? ''));
  const out: Hl7Segment[] = [];
  for (const { condition, kinds, date } of listed) {
    const rxaDate = fhirDateToHl7(date) ?? assessmentDate.replace(/-/g, '');
    out.push(
      segment('ORC', ['RE', undefined, ['9999', 'CDC']]),
      segment('RXA', ['0', '1', rxaDate, rxaDate, ['998', 'No vaccine administered', 'CVX'], '999', undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'NA'])
    );
    let setId = 0;
    for (const kind of ['immunity', 'contraindication'] as const) {
      const code = kinds[kind][0];
      if (!code) continue;
      const obx = OBSERVATION_OBX[kind];
      setId += 1;
      out.push(
        segment('OBX', [String(setId), 'CE', [obx.code, obx.name, 'LN'], String(setId), observedValue(condition, code, obx.prefer, data), undefined, undefined, undefined, undefined, undefined, 'F', undefined, undefined, fhirDateTimeToHl7(date)])
      );
    }
  }
  return out;
}

/**
 * OBX-5 for a Condition's CDSi observation: the SNOMED / CDC PHIN VADS code it was recorded with
 * (as an OBX sent it), else one the supporting data maps to the observation (and back), else the
 * CDSi code alone; the CDSi code (system CDSI) as the alternate identifier after another system's code.
 */
function observedValue(condition: Condition, cdsi: string, prefer: 'SCT' | 'CDCPHINVS', data: SupportingData): FieldValue {
  const observation = data.observations.get(cdsi);
  const title = observation?.title ?? '';
  const alternate = [cdsi, title, 'CDSI'];
  const sent = (condition.code?.coding ?? []).find((c) => {
    if (!c.code || !(c.system === SNOMED_SYSTEM || CDCPHINVS_SYSTEMS.includes(c.system ?? ''))) return false;
    return observationCodesOfConcept({ coding: [c] }, data).includes(cdsi);
  });
  if (sent) return [sent.code, sent.display ?? '', sent.system === SNOMED_SYSTEM ? 'SCT' : 'CDCPHINVS', ...alternate];
  const mapped = [...(observation?.codedValues ?? [])]
    // Only a code that reads back as this observation alone (VXC20 stands for 27 of them).
    .filter((v) => {
      if (!['SNOMED', 'CDCPHINVS'].includes(v.codeSystem.toUpperCase())) return false;
      const readsAs = data.observationsByCodedValue.get(`${v.codeSystem.toUpperCase()}|${v.code}`) ?? [];
      return readsAs.length === 1 && readsAs[0] === cdsi;
    })
    .sort((a, b) => Number(nameOfTable(b.codeSystem) === prefer) - Number(nameOfTable(a.codeSystem) === prefer))[0];
  if (mapped) return [mapped.code, title, nameOfTable(mapped.codeSystem), ...alternate];
  return alternate;
}

function nameOfTable(codeSystem: string): 'SCT' | 'CDCPHINVS' {
  return codeSystem.toUpperCase() === 'SNOMED' ? 'SCT' : 'CDCPHINVS';
}
