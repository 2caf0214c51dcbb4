// VXU^V04 (CDC profile Z22) → FHIR: one Patient, its data-sharing Consent (PD1-12/13) and one
// Immunization per ORC/RXA group. Pure: reading a message never touches the store; what cannot be
// read becomes an Hl7Issue (the whole message is refused only when the patient cannot be named).
import type {
  Address,
  CodeableConcept,
  Condition,
  Consent,
  ContactPoint,
  Extension,
  HumanName,
  Identifier,
  Immunization,
  ImmunizationEducation,
  ImmunizationPerformer,
  Patient,
  PatientContact,
  Reference,
} from '@medplum/fhirtypes';
import type { Hl7Segment } from '@medplum/core';
import { CDCREC, codingOf, conceptFrom, CVX, MVX, NDC, systemFor, UCUM } from './codes.js';
import { component, components, firstSubcomponents, structuredComponents, hl7ToFhirDateTime, isHl7Null, isHl7NullComponent, repetitions, subcomponent, subcomponents, type ParsedMessage } from './er7.js';
import { authoritySystem, doseKey, DOSE_KEY_SYSTEM, isRegistryIdentifier, PD1_CONSENT_SYSTEM, SSN_SYSTEM } from './identifiers.js';
import { Hl7Problem, type ErrorLocation, type Hl7Issue } from './problems.js';
import { CDSI_OBSERVATION_SYSTEM, cvxOf, observationCodesOfConcept } from '../forecast/fhir.js';
import { defaultSupportingData } from '../forecast/supporting-data.js';
import { noWithdrawnFacts, type AddressPart, type WithdrawnFacts, type WithdrawnParts } from '../matching/withdrawn-facts.js';

export const EXT = {
  race: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
  ethnicity: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
  mothersMaidenName: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName',
  publicity: 'https://iis-fhir-server.org/fhir/StructureDefinition/hl7v2-publicity-code',
  publicityDate: 'https://iis-fhir-server.org/fhir/StructureDefinition/hl7v2-publicity-code-date',
  registryStatus: 'https://iis-fhir-server.org/fhir/StructureDefinition/immunization-registry-status',
  registryStatusDate: 'https://iis-fhir-server.org/fhir/StructureDefinition/immunization-registry-status-date',
  evidenceOfImmunity: 'https://iis-fhir-server.org/fhir/StructureDefinition/evidence-of-immunity',
  contraindication: 'https://iis-fhir-server.org/fhir/StructureDefinition/contraindication',
  reactionCode: 'https://iis-fhir-server.org/fhir/StructureDefinition/reaction-code',
  visVaccineType: 'https://iis-fhir-server.org/fhir/StructureDefinition/vis-vaccine-type',
  administeredAt: 'https://iis-fhir-server.org/fhir/StructureDefinition/administered-at-location',
  /** The HL7 XCN / XAD type / XTN as sent, so a response message says what the submitter said. */
  xcn: 'https://iis-fhir-server.org/fhir/StructureDefinition/hl7v2-xcn',
  addressType: 'https://iis-fhir-server.org/fhir/StructureDefinition/hl7v2-address-type',
  enteredBy: 'https://iis-fhir-server.org/fhir/StructureDefinition/hl7v2-entered-by',
  /** The facility that recorded a Condition (as the clinic web app writes it; R4 Condition.recorder cannot name an Organization). */
  recordingOrganization: 'https://iis-fhir-server.org/fhir/StructureDefinition/recording-organization',
} as const;

/** Conditions recorded from an OBX 59784-9 / 30945-0: one per dose, OBX-3 and coded value (see observationKey). */
export const OBSERVATION_KEY_SYSTEM = 'https://iis-fhir-server.org/fhir/sid/hl7v2-observation';
export const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
export const CONDITION_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';

export const LOINC_OBX = {
  fundingEligibility: '64994-7',
  fundingSource: '30963-3',
  visDocument: '69764-9',
  visPublished: '29768-9',
  visPresented: '29769-7',
  vaccineType: '30956-7',
  evidenceOfImmunity: '59784-9',
  contraindication: '30945-0',
  reaction: '31044-1',
} as const;

/** documentType of a VIS given by vaccine type only (no VIS document id in the message). */
export const VIS_BY_VACCINE_TYPE = 'VIS for vaccine type ';

export const PERFORMER_FUNCTION = 'http://terminology.hl7.org/CodeSystem/v2-0443';

export type ActionCode = 'A' | 'U' | 'D';

export interface DoseFromMessage {
  immunization: Immunization;
  /** ORC-3, or a key computed from the dose when ORC-3 is empty: what makes a resend idempotent. */
  identifier: Identifier;
  action: ActionCode;
  /** ERR-2 of the RXA segment (its ordinal among RXA segments). */
  rxa: ErrorLocation;
  /**
   * The dose's evidence-of-immunity / contraindication OBX whose value maps to a CDSi observation,
   * as Conditions of the patient (stored with the dose, which keeps its extensions too).
   */
  conditions: ConditionFromMessage[];
}

export interface ConditionFromMessage {
  /** `subject` and `evidence.detail` are placeholders: the transaction points them at its Patient and dose entries. */
  condition: Condition;
  /** Derived from the dose's identity and the OBX: what makes a resend store no second Condition. */
  identifier: Identifier;
  /** ERR-2 of the OBX segment. */
  obx: ErrorLocation;
}

export interface VxuContent {
  patient: Patient;
  /** PID-3, in message order: how the submitter names the patient. */
  identifiers: Identifier[];
  consent?: { consent: Consent; identifier: Identifier };
  doses: DoseFromMessage[];
  /** Problems that drop a dose or a field but keep the rest of the message. */
  issues: Hl7Issue[];
  /** What the message's fields sent as HL7's null `""` delete from the stored record (an empty field keeps it). */
  withdrawn: WithdrawnFacts;
  /** Required PID fields (or components) sent as `""` (PID-5 name, its family or given name; PID-7 birth date): they identify the patient and are never deleted. */
  requiredNulls: Array<{ field: number; component?: number; repetition?: number; what: string }>;
  /** PD1-12 sent as `""`: the protection indicator this submitter recorded is withdrawn. */
  protectionWithdrawn: boolean;
}

export interface ReadOptions {
  /** The Organization the caller acts for (`Organization/<id>`): data-sharing Consent owner, performer of administered doses, recorder of Conditions. */
  organization?: string;
}

export function readVxu(parsed: ParsedMessage, options: ReadOptions = {}): VxuContent {
  const segments = parsed.message.segments;
  const msh = parsed.msh;
  const sendingFacility = component(msh, 4, 1) || component(msh, 4, 2) || component(msh, 3, 1);
  const messageTime = hl7ToFhirDateTime(component(msh, 7, 1));
  const issues: Hl7Issue[] = [];

  const pid = segments.find((s) => s.name === 'PID');
  if (!pid) {
    throw new Hl7Problem({ text: 'The VXU has no PID segment', hl7Code: '100', appCode: '7', location: { segment: 'PID', sequence: 1 } });
  }
  const pidIndex = segments.indexOf(pid);
  if (segments.slice(1, pidIndex).some((s) => !['SFT'].includes(s.name))) {
    const misplaced = segments.slice(1, pidIndex).find((s) => s.name !== 'SFT') as Hl7Segment;
    throw new Hl7Problem({
      text: `Segment ${misplaced.name} comes before PID: a VXU^V04 is MSH, PID, [PD1], [NK1…], then ORC/RXA groups`,
      hl7Code: '100',
      appCode: '4',
      location: { segment: misplaced.name, sequence: 1 },
    });
  }
  const patient = readPatient(pid, sendingFacility, issues);
  let identifiers = patient.identifier ?? [];
  if (identifiers.length === 0) {
    throw new Hl7Problem({
      text: isHl7Null(pid, 3)
        ? 'PID-3 (patient identifier list) is HL7\'s null "": a patient\'s identifiers cannot be deleted, and without one the patient cannot be identified'
        : 'PID-3 (patient identifier list) is empty: the patient cannot be identified',
      hl7Code: '101',
      appCode: '7',
      location: { segment: 'PID', sequence: 1, field: 3 },
    });
  }
  // The registry's own id (SR, from an RSP) names the record (vxu.ts looks it up) but is not one of
  // its identifiers: the record is not given a copy of its own id. It goes last, so what keys the
  // message's doses and Consent (the first identifier) stays the submitter's record number.
  if (identifiers.some(isRegistryIdentifier)) {
    const own = identifiers.filter((id) => !isRegistryIdentifier(id));
    if (own.length > 0) patient.identifier = own;
    else delete patient.identifier;
    identifiers = [...own, ...identifiers.filter(isRegistryIdentifier)];
  }

  let consent: VxuContent['consent'];
  const pd1 = segments.find((s) => s.name === 'PD1');
  if (pd1) consent = readPd1(pd1, patient, identifiers[0], messageTime, options, issues);

  const nk1s = segments.filter((s) => s.name === 'NK1');
  // An NK1 whose name (NK1-2) is HL7's null names no one: it is the sender saying the patient has
  // no next of kin on record. The message's other NK1 replace the stored contacts as ever.
  const contacts = nk1s.filter((nk1) => !isHl7Null(nk1, 2)).map((nk1) => readNk1(nk1));
  if (contacts.length > 0) patient.contact = contacts;
  const { withdrawn, requiredNulls, protectionWithdrawn } = readNulls(pid, pd1, nk1s, contacts.length > 0);

  const doses: DoseFromMessage[] = [];
  let rxaOrdinal = 0;
  let orc: Hl7Segment | undefined;
  let current: { dose: DoseFromMessage; obx: Array<{ obx: Hl7Segment; ordinal: number }> } | undefined;
  const recorder = { organization: options.organization, sendingFacility, messageTime };
  const finish = () => {
    if (current) {
      applyObservations(current.dose, current.obx, issues, recorder);
      doses.push(current.dose);
    }
    current = undefined;
  };
  for (const seg of segments.slice(pidIndex + 1)) {
    switch (seg.name) {
      case 'ORC':
        finish();
        orc = seg;
        break;
      case 'RXA': {
        finish();
        rxaOrdinal += 1;
        const dose = readRxa(seg, orc, { rxaOrdinal, sendingFacility, identifiers, issues, options, messageTime });
        orc = undefined;
        if (dose) current = { dose, obx: [] };
        break;
      }
      case 'RXR':
        if (current) readRxr(seg, current.dose.immunization);
        break;
      case 'OBX':
        if (current) current.obx.push({ obx: seg, ordinal: ordinalOf(segments, seg) });
        else {
          issues.push({
            severity: 'I',
            hl7Code: '0',
            appCode: '8',
            text: `OBX ${component(seg, 3, 1)} outside an ORC/RXA group was ignored`,
            location: { segment: 'OBX', sequence: ordinalOf(segments, seg) },
          });
        }
        break;
      default:
        break;
    }
  }
  finish();
  return { patient, identifiers, consent, doses, issues, withdrawn, requiredNulls, protectionWithdrawn };
}

/**
 * PID/PD1/NK1 fields sent as HL7's null `""` (v2.5.1 section 2.5.3: "delete the value held"): each
 * deletes what the registry holds for it. PID-3, PID-5 and PID-7 are required by the CDC guide
 * (usage R: never empty, and `""` is no value) and identify the patient: never deleted.
 */
function readNulls(
  pid: Hl7Segment,
  pd1: Hl7Segment | undefined,
  nk1s: Hl7Segment[],
  hasContacts: boolean
): Pick<VxuContent, 'withdrawn' | 'requiredNulls' | 'protectionWithdrawn'> {
  const withdrawn = noWithdrawnFacts();
  const pidNull = (n: number) => isHl7Null(pid, n);
  if (pidNull(6)) withdrawn.extensions.push(EXT.mothersMaidenName);
  if (pidNull(8)) withdrawn.elements.push('gender');
  if (pidNull(10)) withdrawn.extensions.push(EXT.race);
  if (pidNull(11)) withdrawn.elements.push('address');
  if (pidNull(13)) withdrawn.telecoms.push('other');
  if (pidNull(14)) withdrawn.telecoms.push('work');
  if (pidNull(22)) withdrawn.extensions.push(EXT.ethnicity);
  if (pidNull(24)) withdrawn.elements.push('multipleBirthBoolean', 'multipleBirthInteger');
  else if (pidNull(25)) withdrawn.elements.push('multipleBirthInteger');
  if (pidNull(30)) withdrawn.elements.push('deceasedBoolean', 'deceasedDateTime');
  else if (pidNull(29)) withdrawn.elements.push('deceasedDateTime');
  if (pd1) {
    if (isHl7Null(pd1, 11)) withdrawn.extensions.push(EXT.publicity, EXT.publicityDate);
    else if (isHl7Null(pd1, 18)) withdrawn.extensions.push(EXT.publicityDate);
    if (isHl7Null(pd1, 16)) withdrawn.extensions.push(EXT.registryStatus, EXT.registryStatusDate);
    else if (isHl7Null(pd1, 17)) withdrawn.extensions.push(EXT.registryStatusDate);
  }
  if (!hasContacts && nk1s.some((nk1) => isHl7Null(nk1, 2))) withdrawn.elements.push('contact');
  // PID-6 is read for the mother's family name alone (PID-6.1): its `""` deletes the stored one.
  if (!pidNull(6) && isHl7NullComponent(pid, 6, 1)) withdrawn.extensions.push(EXT.mothersMaidenName);
  withdrawn.parts = nullComponents(pid);
  const requiredNulls: VxuContent['requiredNulls'] = [
    { field: 5, what: 'patient name' },
    { field: 7, what: 'date of birth' },
  ].filter(({ field }) => pidNull(field));
  repetitions(pid, 5).forEach((_, r) => {
    for (const [c, what] of [[1, 'family name'], [2, 'given name']] as const) {
      if (isHl7NullComponent(pid, 5, c, r)) requiredNulls.push({ field: 5, component: c, repetition: r + 1, what: `patient ${what}` });
    }
  });
  return { withdrawn, requiredNulls, protectionWithdrawn: !!pd1 && isHl7Null(pd1, 12) };
}

/**
 * `""` in one component of PID-5, PID-11, PID-13 or PID-14 (v2.5.1 2.5.3: that component's value
 * is to be deleted): the parts of the stored names, addresses and telecoms the repetition stands
 * for. PID-3 is left out (identifiers are never deleted); so are the fields the message replaces
 * whole (race, ethnicity, publicity code, registry status, NK1 contacts): there the message's
 * value, without the part, already replaces the stored one.
 */
function nullComponents(pid: Hl7Segment): WithdrawnParts {
  const parts: WithdrawnParts = { names: [], addresses: [], telecoms: [] };
  // A name or address repetition stands for the stored ones agreeing with what it sends: one that
  // sends no value at all (`^^""`, or a bare `""` repetition) stands for none in particular and deletes nothing.
  repetitions(pid, 5).forEach((_, r) => {
    const isNull = (c: number) => isHl7NullComponent(pid, 5, c, r);
    // A repetition whose family or given name is `""` is not read at all (readPatient): nothing deleted.
    if (isNull(1) || isNull(2)) return;
    const remove = (['middle', 'suffix', 'prefix'] as const).filter((_, i) => isNull(i + 3));
    const [family, given] = firstSubcomponents(pid, 5, r);
    if (remove.length === 0 || (!family && !given)) return;
    parts.names.push({ sent: { ...(family ? { family } : {}), ...(given ? { given } : {}) }, remove });
  });
  repetitions(pid, 11).forEach((_, r) => {
    const xad = firstSubcomponents(pid, 11, r);
    const byComponent: Array<[number, AddressPart]> = [[1, 'street'], [2, 'other'], [3, 'city'], [4, 'state'], [5, 'postalCode'], [6, 'country'], [9, 'district']];
    const remove = byComponent.filter(([c]) => isHl7NullComponent(pid, 11, c, r)).map(([, part]) => part);
    if (remove.length === 0) return;
    const sent: Partial<Record<AddressPart, string>> = {};
    for (const [c, part] of byComponent) {
      const value = xad[c - 1];
      if (value) sent[part] = value;
    }
    if (Object.keys(sent).length === 0) return;
    parts.addresses.push({ sent, remove });
  });
  for (const [field, fallbackUse] of [[13, 'home'], [14, 'work']] as const) {
    repetitions(pid, field).forEach((_, r) => {
      const isNull = (c: number) => isHl7NullComponent(pid, field, c, r);
      const xtn = components(pid, field, r);
      const { system, use } = telecomKind(xtn, fallbackUse);
      const remove: WithdrawnParts['telecoms'][number]['remove'] = [];
      if (numberWithdrawn(pid, field, r)) remove.push('number');
      if (system !== 'email' && isNull(5)) remove.push('country');
      if (system !== 'email' && isNull(8)) remove.push('extension');
      if (remove.length === 0) return;
      const [legacy, , , , , area, local] = xtn;
      const localDigits = local || (area ? undefined : (legacy ?? '').replace(/\D/g, '') || undefined);
      parts.telecoms.push({ system, use, ...(area ? { areaCode: area } : {}), ...(localDigits ? { local: localDigits } : {}), remove });
    });
  }
  return parts;
}

function ordinalOf(segments: Hl7Segment[], seg: Hl7Segment): number {
  return segments.filter((s) => s.name === seg.name).indexOf(seg) + 1;
}

// ---- PID -------------------------------------------------------------------------------------

function readPatient(pid: Hl7Segment, sendingFacility: string, issues: Hl7Issue[]): Patient {
  const patient: Patient = { resourceType: 'Patient' };
  const identifier: Identifier[] = [];
  repetitions(pid, 3).forEach((_, r) => {
    const cx = components(pid, 3, r);
    const value = cx[0];
    if (!value) return;
    const [ns, uid, uidType] = subcomponents(cx[3] ?? '');
    const type = cx[4] ?? '';
    const id: Identifier = { value };
    if (type === 'SS') id.system = SSN_SYSTEM;
    else id.system = authoritySystem(ns, uid, uidType) ?? authoritySystem(sendingFacility);
    if (ns) id.assigner = { display: ns };
    if (type) id.type = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: type }] };
    identifier.push(id);
  });
  if (identifier.length > 0) patient.identifier = identifier;

  const names: HumanName[] = [];
  repetitions(pid, 5).forEach((_, r) => {
    // A family or given name sent as `""` identifies no one and cannot be deleted (readNulls): the
    // repetition is left out, so the stored name stays (and a new child without another name is refused).
    if (isHl7NullComponent(pid, 5, 1, r) || isHl7NullComponent(pid, 5, 2, r)) return;
    const name = readName(firstSubcomponents(pid, 5, r));
    if (name) names.push(name);
  });
  if (names.length > 0) patient.name = names;

  const maiden = subcomponent(pid, 6, 1, 1);
  const extension: Extension[] = [];
  if (maiden) extension.push({ url: EXT.mothersMaidenName, valueString: maiden });

  const birth = component(pid, 7, 1);
  if (birth) {
    const date = hl7ToFhirDateTime(birth);
    if (date) patient.birthDate = date.slice(0, 10);
    else issues.push(dateIssue('PID', 1, 7, birth, 'birth date'));
  }
  const sex = component(pid, 8, 1).toUpperCase();
  const gender = ({ F: 'female', M: 'male', U: 'unknown', X: 'other', O: 'other' } as const)[sex as 'F'];
  if (gender) patient.gender = gender;
  else if (sex) issues.push(tableIssue('PID', 1, 8, sex, 'administrative sex (HL7 table 0001)'));

  const race = repetitions(pid, 10).map((_, r) => components(pid, 10, r)).filter((ce) => ce[0] || ce[1]);
  if (race.length > 0) extension.push(usCoreCategory(EXT.race, race));
  const ethnicity = repetitions(pid, 22).map((_, r) => components(pid, 22, r)).filter((ce) => ce[0] || ce[1]);
  if (ethnicity.length > 0) extension.push(usCoreCategory(EXT.ethnicity, ethnicity));

  const addresses = repetitions(pid, 11).map((_, r) => readAddress(firstSubcomponents(pid, 11, r))).filter((a): a is Address => !!a);
  if (addresses.length > 0) patient.address = addresses;
  // A repetition whose number (or e-mail address) is `""` deletes the stored one (readNulls): it adds none.
  const telecom = [
    ...repetitions(pid, 13).map((_, r) => (numberWithdrawn(pid, 13, r) ? undefined : readPhone(components(pid, 13, r), 'home'))),
    ...repetitions(pid, 14).map((_, r) => (numberWithdrawn(pid, 14, r) ? undefined : readPhone(components(pid, 14, r), 'work'))),
  ].filter((t): t is ContactPoint => !!t);
  if (telecom.length > 0) patient.telecom = telecom;

  const multiple = component(pid, 24, 1).toUpperCase();
  const order = component(pid, 25, 1);
  if (order && /^\d+$/.test(order) && multiple !== 'N') patient.multipleBirthInteger = Number(order);
  else if (multiple === 'Y') patient.multipleBirthBoolean = true;
  else if (multiple === 'N') patient.multipleBirthBoolean = false;

  const death = component(pid, 29, 1);
  const deathIndicator = component(pid, 30, 1).toUpperCase();
  if (death) {
    const when = hl7ToFhirDateTime(death);
    if (when) patient.deceasedDateTime = when;
    else issues.push(dateIssue('PID', 1, 29, death, 'death date'));
  } else if (deathIndicator === 'Y') patient.deceasedBoolean = true;

  if (extension.length > 0) patient.extension = extension;
  return patient;
}

export const NAME_USE: Record<string, HumanName['use']> = { L: 'official', A: 'nickname', M: 'maiden', B: 'official', C: 'old', D: 'usual', U: 'temp' };

function readName(xpn: string[]): HumanName | undefined {
  const [family, given, middle, suffix, prefix, , type] = xpn;
  if (!family && !given) return undefined;
  const name: HumanName = {};
  if (family) name.family = family;
  const givens = [given, middle].filter((g): g is string => !!g);
  if (givens.length > 0) name.given = givens;
  if (suffix) name.suffix = [suffix];
  if (prefix) name.prefix = [prefix];
  const use = NAME_USE[(type ?? '').toUpperCase()];
  if (use) name.use = use;
  return name;
}

export const ADDRESS_USE: Record<string, Partial<Address>> = {
  H: { use: 'home' },
  M: { use: 'home', type: 'postal' },
  P: { use: 'home', type: 'physical' },
  B: { use: 'work' },
  O: { use: 'work' },
  C: { use: 'temp' },
  BA: { use: 'old' },
  BR: { use: 'home', type: 'physical' },
  L: { use: 'home' },
};

function readAddress(xad: string[]): Address | undefined {
  const [street, other, city, state, zip, country, type, , county] = xad;
  if (![street, other, city, state, zip].some(Boolean)) return undefined;
  const address: Address = {};
  const line = [street, other].filter((l): l is string => !!l);
  if (line.length > 0) address.line = line;
  if (city) address.city = city;
  if (state) address.state = state;
  if (zip) address.postalCode = zip;
  if (country) address.country = country;
  if (county) address.district = county;
  Object.assign(address, ADDRESS_USE[(type ?? '').toUpperCase()] ?? {});
  if (type) address.extension = [{ url: EXT.addressType, valueCode: type }];
  return address;
}

/** Whether repetition r of an XTN field (PID-13/14, NK1-5) sends its number (area code or local number, or the old-style text) or e-mail address as `""`. */
function numberWithdrawn(segment: Hl7Segment, field: number, r: number): boolean {
  const isNull = (c: number) => isHl7NullComponent(segment, field, c, r);
  const xtn = components(segment, field, r);
  // A bare `""` repetition names no kind of telecom: it deletes none.
  if (xtn.length <= 1) return false;
  if (telecomKind(xtn, 'home').system === 'email') return isNull(4) || (isNull(1) && !xtn[3]);
  return isNull(6) || isNull(7) || (isNull(1) && !xtn[5] && !xtn[6]);
}

/** The system and use an XTN is stored with (PID-13 falls back to home, PID-14 to work). */
function telecomKind(xtn: string[], fallbackUse: ContactPoint['use']): Required<Pick<ContactPoint, 'system' | 'use'>> {
  const [, useCode, equipment] = xtn;
  if ((equipment ?? '').toUpperCase() === 'INTERNET' || useCode === 'NET') return { system: 'email', use: 'home' };
  const use: ContactPoint['use'] =
    useCode === 'WPN' ? 'work' : equipment === 'CP' ? 'mobile' : useCode === 'PRN' || useCode === 'ORN' ? 'home' : (fallbackUse ?? 'home');
  return { system: (equipment ?? '').toUpperCase() === 'FX' ? 'fax' : 'phone', use };
}

function readPhone(xtn: string[], fallbackUse: ContactPoint['use']): ContactPoint | undefined {
  const [legacy, , , email, country, area, local, extension] = xtn;
  const { system, use } = telecomKind(xtn, fallbackUse);
  if (system === 'email') {
    const value = email || legacy;
    return value ? { system, value, use } : undefined;
  }
  const number = area || local ? `${area ?? ''}${local ?? ''}` : (legacy ?? '').replace(/[^\d]/g, '');
  if (!number) return undefined;
  const value = area && local && local.length === 7 ? `(${area})${local.slice(0, 3)}-${local.slice(3)}` : number;
  const contact: ContactPoint = { system, value, use };
  if (country || extension) contact.value = `${country ? `+${country} ` : ''}${value}${extension ? ` x${extension}` : ''}`;
  return contact;
}

function usCoreCategory(url: string, ces: string[][]): Extension {
  const inner: Extension[] = [];
  const texts: string[] = [];
  for (const ce of ces) {
    const [code, text, system] = ce;
    if (code) {
      inner.push({
        url: isOmb(code) ? 'ombCategory' : 'detailed',
        valueCoding: { system: system && system !== 'CDCREC' && system !== 'HL70005' && system !== 'HL70189' ? systemFor(system) : CDCREC, code, ...(text ? { display: text } : {}) },
      });
    }
    if (text) texts.push(text);
  }
  inner.push({ url: 'text', valueString: texts.join(', ') || ces.map((c) => c[0]).join(', ') });
  return { url, extension: inner };
}

/** OMB minimum categories (race 1002-5 … 2131-1, ethnicity 2135-2 / 2186-5) vs detailed codes. */
function isOmb(code: string): boolean {
  return ['1002-5', '2028-9', '2054-5', '2076-8', '2106-3', '2131-1', '2135-2', '2186-5', 'ASKU', 'UNK'].includes(code);
}

// ---- PD1 → Consent -------------------------------------------------------------------------

function readPd1(
  pd1: Hl7Segment,
  patient: Patient,
  patientIdentifier: Identifier,
  messageTime: string | undefined,
  options: ReadOptions,
  issues: Hl7Issue[]
): VxuContent['consent'] {
  const extension = patient.extension ?? [];
  const publicity = components(pd1, 11);
  if (publicity[0]) {
    extension.push({ url: EXT.publicity, valueCodeableConcept: conceptFrom(publicity) });
    const date = hl7ToFhirDateTime(component(pd1, 18, 1));
    if (date) extension.push({ url: EXT.publicityDate, valueDate: date.slice(0, 10) });
  }
  const registry = component(pd1, 16, 1);
  if (registry) {
    extension.push({ url: EXT.registryStatus, valueCodeableConcept: { coding: [{ system: systemFor('HL70441'), code: registry }] } });
    const date = hl7ToFhirDateTime(component(pd1, 17, 1));
    if (date) extension.push({ url: EXT.registryStatusDate, valueDate: date.slice(0, 10) });
  }
  if (extension.length > 0) patient.extension = extension;

  const indicator = component(pd1, 12, 1).toUpperCase();
  if (!indicator) return undefined;
  if (indicator !== 'Y' && indicator !== 'N') {
    issues.push(tableIssue('PD1', 1, 12, indicator, 'protection indicator (HL7 table 0136: Y or N)'));
    return undefined;
  }
  const effective = component(pd1, 13, 1);
  const dateTime = (effective && hl7ToFhirDateTime(effective)) || messageTime || new Date().toISOString();
  if (effective && !hl7ToFhirDateTime(effective)) issues.push(dateIssue('PD1', 1, 13, effective, 'protection indicator effective date'));
  const identifier: Identifier = {
    system: PD1_CONSENT_SYSTEM,
    value: doseKey([patientIdentifier.system ?? '', patientIdentifier.value ?? '', indicator, dateTime]),
  };
  // PD1-12 Y: the patient (or parent) asked that the record not be shared → deny; N → permit.
  const consent: Consent = {
    resourceType: 'Consent',
    identifier: [identifier],
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/placeholder' },
    dateTime,
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: indicator === 'Y' ? 'OPTOUT' : 'OPTIN' }] },
    provision: { type: indicator === 'Y' ? 'deny' : 'permit' },
    sourceAttachment: { title: `HL7 v2 PD1-12 protection indicator ${indicator}` },
  };
  if (options.organization) consent.organization = [{ reference: options.organization }];
  return { consent, identifier };
}

// ---- NK1 → Patient.contact ----------------------------------------------------------------

function readNk1(nk1: Hl7Segment): PatientContact {
  const contact: PatientContact = {};
  const name = readName(firstSubcomponents(nk1, 2));
  if (name) contact.name = name;
  const relationship = conceptFrom(components(nk1, 3));
  if (relationship) contact.relationship = [relationship];
  const address = readAddress(firstSubcomponents(nk1, 4));
  if (address) contact.address = address;
  // A phone whose number is `""` is none (the message's NK1 replace the stored contacts whole).
  const telecom = repetitions(nk1, 5)
    .map((_, r) => (numberWithdrawn(nk1, 5, r) ? undefined : readPhone(components(nk1, 5, r), 'home')))
    .filter((t): t is ContactPoint => !!t);
  if (telecom.length > 0) contact.telecom = telecom;
  return contact;
}

// ---- ORC / RXA / RXR / OBX → Immunization -----------------------------------------------------

interface RxaContext {
  rxaOrdinal: number;
  sendingFacility: string;
  identifiers: Identifier[];
  issues: Hl7Issue[];
  options: ReadOptions;
  messageTime?: string;
}

const COMPLETION: Record<string, Partial<Immunization>> = {
  CP: { status: 'completed' },
  PA: { status: 'completed', isSubpotent: true },
  RE: { status: 'not-done' },
  NA: { status: 'not-done' },
};

/** ORC-3 of the IG's records of doses not given (CDC guide release 1.5, ORC-3). */
const NOT_GIVEN_FILLER_NUMBER = '9999';

function readRxa(rxa: Hl7Segment, orc: Hl7Segment | undefined, ctx: RxaContext): DoseFromMessage | undefined {
  const at = (field: number): ErrorLocation => ({ segment: 'RXA', sequence: ctx.rxaOrdinal, field });
  const action = (component(rxa, 21, 1).toUpperCase() || 'A') as ActionCode;
  if (!['A', 'U', 'D'].includes(action)) {
    // Not stored: an action the registry cannot read might have been a deletion.
    ctx.issues.push({
      ...tableIssue('RXA', ctx.rxaOrdinal, 21, action, 'action code (HL7 table 0323: A, U or D)'),
      severity: 'E',
      text: `RXA-21 "${action}" is not a known action code (HL7 table 0323: A add, U update, D delete): the dose was not stored`,
    });
    return undefined;
  }
  const imm: Immunization = { resourceType: 'Immunization', status: 'completed', vaccineCode: {}, patient: { reference: 'Patient/placeholder' } };

  const start = component(rxa, 3, 1);
  const occurrence = start ? hl7ToFhirDateTime(start) : undefined;
  if (!start) {
    ctx.issues.push({ severity: 'E', hl7Code: '101', appCode: '7', text: 'RXA-3 (date/time start of administration) is empty: the dose was not stored', location: at(3) });
    return undefined;
  }
  if (!occurrence) {
    ctx.issues.push({ ...dateIssue('RXA', ctx.rxaOrdinal, 3, start, 'administration date'), severity: 'E', text: `RXA-3 "${start}" is not a valid date: the dose was not stored` });
    return undefined;
  }
  imm.occurrenceDateTime = occurrence;

  const vaccine = conceptFrom(components(rxa, 5));
  if (!vaccine?.coding?.length) {
    ctx.issues.push({ severity: 'E', hl7Code: '101', appCode: '7', text: 'RXA-5 (administered code) is empty: the dose was not stored', location: at(5) });
    return undefined;
  }
  imm.vaccineCode = vaccine;

  // Identity: ORC-3 (filler order number) makes resends and updates land on the same record.
  // ORC-3 9999 is the IG's placeholder for a record of a dose not given (a refusal, RXA 998 "no
  // vaccine administered"): every such record carries it, so it names none of them — the dose key
  // (patient, vaccine, date) does, as for a dose sent without ORC-3.
  const filler = orc ? components(orc, 3) : [];
  let identifier: Identifier;
  if (filler[0] && filler[0] !== NOT_GIVEN_FILLER_NUMBER) {
    identifier = { value: filler[0], system: authoritySystem(filler[1] ?? '', filler[2] ?? '', filler[3] ?? '') ?? authoritySystem(ctx.sendingFacility) };
    if (filler[1]) identifier.assigner = { display: filler[1] };
  } else {
    const patientId = ctx.identifiers[0];
    const code = codingOf(vaccine, CVX)?.code ?? codingOf(vaccine, NDC)?.code ?? vaccine.coding[0].code ?? '';
    identifier = { system: DOSE_KEY_SYSTEM, value: doseKey([ctx.sendingFacility, patientId.system ?? '', patientId.value ?? '', code, occurrence.slice(0, 10)]) };
  }
  imm.identifier = [identifier];
  const placer = orc ? components(orc, 2) : [];
  if (placer[0]) {
    imm.identifier.push({
      value: placer[0],
      system: authoritySystem(placer[1] ?? '', placer[2] ?? '', placer[3] ?? '') ?? authoritySystem(ctx.sendingFacility),
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
      ...(placer[1] ? { assigner: { display: placer[1] } } : {}),
    });
  }

  const amount = component(rxa, 6, 1);
  if (amount && amount !== '999') {
    const value = Number(amount);
    if (Number.isFinite(value)) {
      const units = components(rxa, 7);
      imm.doseQuantity = { value };
      if (units[0]) {
        imm.doseQuantity.unit = units[1] || units[0];
        imm.doseQuantity.code = units[0];
        imm.doseQuantity.system = units[2] === 'UCUM' || !units[2] ? UCUM : systemFor(units[2]);
      }
    } else ctx.issues.push({ severity: 'W', hl7Code: '102', appCode: '4', text: `RXA-6 "${amount}" is not a number: the amount was ignored`, location: at(6) });
  }

  const source = components(rxa, 9);
  const sourceCode = source[0] ?? '';
  imm.primarySource = sourceCode === '' || sourceCode === '00';
  if (sourceCode) imm.reportOrigin = conceptFrom(source.length >= 3 ? source : [sourceCode, source[1] ?? '', 'NIP001']);

  const performers: ImmunizationPerformer[] = [];
  const administering = readProvider(structuredComponents(rxa, 10));
  if (administering) performers.push({ function: { coding: [{ system: PERFORMER_FUNCTION, code: 'AP', display: 'Administering Provider' }] }, actor: administering.actor, extension: administering.extension });
  const ordering = orc ? readProvider(structuredComponents(orc, 12)) : undefined;
  if (ordering) performers.push({ function: { coding: [{ system: PERFORMER_FUNCTION, code: 'OP', display: 'Ordering Provider' }] }, actor: ordering.actor, extension: ordering.extension });
  const enteredBy = orc ? readProvider(structuredComponents(orc, 10)) : undefined;
  if (enteredBy) imm.extension = [...(imm.extension ?? []), { url: EXT.enteredBy, valueString: storedXcnText(structuredComponents(orc as Hl7Segment, 10)) }];
  if (ctx.options.organization && imm.primarySource) performers.push({ actor: { reference: ctx.options.organization } });
  if (performers.length > 0) imm.performer = performers;

  // RXA-11.4 (HD: facility name & OID & type) kept as its ER7 text, escapes and all: split before
  // unescaping, so an escaped `\T\` in the name is text, not a separator ("Clinic\T\Co" was the
  // facility "Clinic" with the OID "Co"), and written back as sent (fhir-to-v2).
  const sentLocation = repetitions(rxa, 11)[0]?.[3] ?? '';
  const facility = subcomponents(sentLocation);
  if (facility[0] || facility[1]) {
    imm.location = { display: facility[0] || facility[1], ...(facility[1] ? { identifier: { system: 'urn:ietf:rfc:3986', value: `urn:oid:${facility[1]}` } } : {}) };
    imm.extension = [...(imm.extension ?? []), { url: EXT.administeredAt, valueString: sentLocation }];
  }

  const lot = component(rxa, 15, 1);
  if (lot) imm.lotNumber = lot;
  const expiration = component(rxa, 16, 1);
  if (expiration) {
    const date = hl7ToFhirDateTime(expiration);
    if (date) imm.expirationDate = date.slice(0, 10);
    else ctx.issues.push(dateIssue('RXA', ctx.rxaOrdinal, 16, expiration, 'lot expiration date'));
  }
  const mvx = components(rxa, 17);
  if (mvx[0]) {
    imm.manufacturer = { identifier: { system: !mvx[2] || mvx[2] === 'MVX' ? MVX : systemFor(mvx[2]), value: mvx[0] } };
    if (mvx[1]) imm.manufacturer.display = mvx[1];
  }
  const refusal = conceptFrom(components(rxa, 18));
  const completion = component(rxa, 20, 1).toUpperCase();
  if (completion && !COMPLETION[completion]) {
    ctx.issues.push(tableIssue('RXA', ctx.rxaOrdinal, 20, completion, 'completion status (HL7 table 0322: CP, RE, NA, PA)'));
  }
  Object.assign(imm, COMPLETION[completion] ?? {});
  if (completion === 'RE') {
    imm.statusReason = refusal ?? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PATOBJ', display: 'patient objection' }] };
  } else if (completion === 'NA' && refusal) imm.statusReason = refusal;
  const entered = component(rxa, 22, 1);
  if (entered) {
    const when = hl7ToFhirDateTime(entered);
    if (when) imm.recorded = when;
  }
  return { immunization: imm, identifier, action, rxa: { segment: 'RXA', sequence: ctx.rxaOrdinal }, conditions: [] };
}

/**
 * XCN (id, family, given, …) → a display-only reference (providers are not stored as resources),
 * with the XCN components kept in an extension for the response messages.
 */
/**
 * An XCN as kept to be written back as sent (fhir-to-v2 storedXcn): each component its text, one
 * with subcomponents (XCN-2's FN, XCN-9's HD `NIST-AA-1&2.16.840.1…&ISO`) the array of them, and
 * a text holding `&` an array too — a string with `&` is read back as the raw subcomponents
 * records stored before this kept (they were written back `\T\`-escaped, one namespace).
 */
function storedXcnText(xcn: Array<string | string[]>): string {
  return JSON.stringify(xcn.map((c) => (typeof c === 'string' && c.includes('&') ? [c] : c)));
}

function readProvider(xcn: Array<string | string[]>): { actor: ImmunizationPerformer['actor']; extension: Extension[] } | undefined {
  const [id, family, given] = xcn.map((c) => (typeof c === 'string' ? c : c[0]));
  if (!id && !family) return undefined;
  const actor: ImmunizationPerformer['actor'] = {};
  if (id) actor.identifier = { value: id };
  const display = [given, family].filter(Boolean).join(' ');
  if (display) actor.display = display;
  return { actor, extension: [{ url: EXT.xcn, valueString: storedXcnText(xcn) }] };
}

function readRxr(rxr: Hl7Segment, imm: Immunization): void {
  const route = conceptFrom(components(rxr, 1));
  if (route) imm.route = route;
  const site = conceptFrom(components(rxr, 2));
  if (site) imm.site = site;
}

interface Recorder {
  organization?: string;
  sendingFacility: string;
  messageTime?: string;
}

/** The OBX-3 codes whose OBX-5 is a coded value (CE/CWE). */
const CODED_OBSERVATIONS: ReadonlySet<string> = new Set<string>([
  LOINC_OBX.fundingEligibility,
  LOINC_OBX.fundingSource,
  LOINC_OBX.vaccineType,
  LOINC_OBX.evidenceOfImmunity,
  LOINC_OBX.contraindication,
  LOINC_OBX.reaction,
]);

/** OBX groups by OBX-4 (sub-id): VIS statements are one group per document. */
function applyObservations(dose: DoseFromMessage, obxs: Array<{ obx: Hl7Segment; ordinal: number }>, issues: Hl7Issue[], recorder: Recorder): void {
  const imm = dose.immunization;
  const education = new Map<string, ImmunizationEducation & { vaccineType?: CodeableConcept }>();
  /** The first OBX of each VIS group (ERR-2 of a group that names no VIS). */
  const educationOrdinals = new Map<string, number>();
  let currentOrdinal = 1;
  const educationFor = (subId: string) => {
    let entry = education.get(subId);
    if (!entry) {
      entry = {};
      education.set(subId, entry);
      educationOrdinals.set(subId, currentOrdinal);
    }
    return entry;
  };
  for (const { obx, ordinal } of obxs) {
    currentOrdinal = ordinal;
    const code = component(obx, 3, 1);
    const valueType = component(obx, 2, 1).toUpperCase();
    const value = components(obx, 5);
    const concept = valueType === 'CE' || valueType === 'CWE' ? conceptFrom(value) : undefined;
    const date = hl7ToFhirDateTime(value[0] ?? '');
    const subId = component(obx, 4, 1) || '1';
    // A value this registry cannot read is not stored: the sender hears it was ignored (W), as for an unknown OBX-3.
    const ignored = (kind: 'coded' | 'date') => {
      const sent = value.join('^');
      issues.push({
        severity: 'W',
        hl7Code: '102',
        appCode: kind === 'date' ? '2' : '4',
        text:
          kind === 'date'
            ? `OBX-5 "${sent}" of ${code} is not a date (YYYYMMDD): it was ignored`
            : `OBX-5 "${sent}" of ${code} is not a coded value (OBX-2 "${valueType}"; send CE or CWE with a code): it was ignored`,
        location: { segment: 'OBX', sequence: ordinal, field: 5 },
      });
    };
    const coded = CODED_OBSERVATIONS.has(code);
    if (coded && !concept) {
      ignored('coded');
      continue;
    }
    if ((code === LOINC_OBX.visPublished || code === LOINC_OBX.visPresented) && !date) {
      ignored('date');
      continue;
    }
    switch (code) {
      case LOINC_OBX.fundingEligibility:
        if (concept) imm.programEligibility = [...(imm.programEligibility ?? []), concept];
        break;
      case LOINC_OBX.fundingSource:
        if (concept) imm.fundingSource = concept;
        break;
      case LOINC_OBX.visDocument:
        educationFor(subId).documentType = value[0];
        break;
      case LOINC_OBX.visPublished:
        if (date) educationFor(subId).publicationDate = date;
        break;
      case LOINC_OBX.visPresented:
        if (date) educationFor(subId).presentationDate = date;
        break;
      case LOINC_OBX.vaccineType:
        if (concept) educationFor(subId).vaccineType = concept;
        break;
      case LOINC_OBX.evidenceOfImmunity:
      case LOINC_OBX.contraindication:
        if (concept) {
          // The extension stays (what the dose said, returned as sent in a Z32/Z42 and read by the
          // forecast for records stored before Conditions); the Condition is the patient's record of it.
          const url = code === LOINC_OBX.evidenceOfImmunity ? EXT.evidenceOfImmunity : EXT.contraindication;
          imm.extension = [...(imm.extension ?? []), { url, valueCodeableConcept: concept }];
          if (dose.action !== 'D') observationCondition(dose, code, concept, obx, ordinal, issues, recorder);
        }
        break;
      case LOINC_OBX.reaction:
        if (concept) {
          const reactionDate = hl7ToFhirDateTime(component(obx, 14, 1));
          imm.reaction = [
            ...(imm.reaction ?? []),
            {
              ...(reactionDate ? { date: reactionDate } : {}),
              detail: { display: concept.text ?? concept.coding?.[0]?.display ?? concept.coding?.[0]?.code },
              extension: [{ url: EXT.reactionCode, valueCodeableConcept: concept }],
            },
          ];
        }
        break;
      default:
        issues.push({
          severity: 'I',
          hl7Code: '0',
          appCode: '8',
          text: `OBX-3 ${code || '(empty)'} is not an observation this registry records: it was ignored`,
          location: { segment: 'OBX', sequence: ordinal, field: 3 },
        });
    }
  }
  for (const [subId, entry] of education) {
    const { vaccineType, ...rest } = entry;
    const item: ImmunizationEducation = { ...rest };
    if (!item.documentType && !item.reference && !vaccineType) {
      // VIS dates naming no VIS (neither 69764-9 nor 30956-7 in their OBX-4 group): FHIR cannot
      // record them (imm-1), and the dose is stored without them rather than refused.
      issues.push({
        severity: 'W',
        hl7Code: '101',
        appCode: '6',
        text: `The VIS dates of OBX-4 group ${subId} name no VIS: send the VIS document (69764-9) or the vaccine type (30956-7) in the same group; they were ignored`,
        location: { segment: 'OBX', sequence: educationOrdinals.get(subId) ?? 1, field: 4 },
      });
      continue;
    }
    // A VIS named by vaccine type (30956-7) rather than by document (69764-9): R4 needs a
    // documentType (imm-1), so it names the vaccine type; the response messages leave it out.
    if (!item.documentType && !item.reference && vaccineType) {
      const code = vaccineType.coding?.[0]?.code ?? vaccineType.text ?? '';
      item.documentType = `${VIS_BY_VACCINE_TYPE}${code}`;
    }
    if (vaccineType) item.extension = [{ url: EXT.visVaccineType, valueCodeableConcept: vaccineType }];
    if (Object.keys(item).length > 0) imm.education = [...(imm.education ?? []), item];
  }
}

/**
 * OBX 59784-9 / 30945-0 → a Condition of the patient whose code is the CDSi observation the value
 * maps to (the forecast's supporting data) followed by the coding as sent. A value that maps to
 * none (a code outside the CDSi tables, or a local code) stays on the dose only, said in an
 * information ERR: the IG's value sets are SNOMED (immunity) and CDC PHIN VADS (contraindication)
 * codes, and an IIS ignores what it cannot use without refusing the message.
 */
function observationCondition(dose: DoseFromMessage, code: string, concept: CodeableConcept, obx: Hl7Segment, ordinal: number, issues: Hl7Issue[], recorder: Recorder): void {
  const observed = hl7ToFhirDateTime(component(obx, 14, 1));
  const made = observationConditionOf({
    dose: dose.identifier,
    loinc: code,
    concept,
    vaccine: cvxOf(dose.immunization),
    onset: observed ?? dose.immunization.occurrenceDateTime,
    recordedDate: recorder.messageTime,
    recorder: recorder.organization ? { reference: recorder.organization } : { display: recorder.sendingFacility },
  });
  if (!made) {
    const sent = concept.coding?.[0];
    const named = sent ? `${sent.code}${sent.display ? ` (${sent.display})` : ''}` : (concept.text ?? '');
    issues.push({
      severity: 'I',
      hl7Code: '103',
      appCode: '5',
      text: `OBX-5 ${named} is not a code the CDC CDSi observations list (SNOMED or CDC PHIN VADS): it was kept with the dose but not recorded as a Condition, and the forecast does not use it`,
      location: { segment: 'OBX', sequence: ordinal, field: 5 },
    });
    return;
  }
  // The same OBX twice under one dose is one Condition (two conditional creates in one transaction would both create).
  if (dose.conditions.some((c) => c.identifier.value === made.identifier.value)) return;
  dose.conditions.push({ ...made, obx: { segment: 'OBX', sequence: ordinal } });
}

/** What an evidence-of-immunity / contraindication observation of a dose becomes a Condition from. */
export interface DoseObservation {
  /** The dose's identity: ORC-3, the dose key, or (a record stored without either) `Immunization/<id>`. */
  dose: Identifier;
  /** OBX-3: LOINC_OBX.evidenceOfImmunity or LOINC_OBX.contraindication. */
  loinc: string;
  /** OBX-5 as sent (the dose's extension value). */
  concept: CodeableConcept;
  /** The dose's CVX: a value meaning "this vaccine" (CDC PHIN VADS VXC20) is that vaccine's observation. */
  vaccine?: string;
  onset?: string;
  recordedDate?: string;
  /** The facility that recorded it (`recording-organization`). */
  recorder?: Reference;
}

/**
 * The Condition of the patient an observation reported with a dose stands for, or none when its value
 * maps to no CDSi observation. Its identifier is derived from the dose's identity, OBX-3 and the coded
 * value: the VXU path and the backfill of older records (backfill-conditions.ts) make the same one, so
 * a conditional create by it never stores a second. `subject` and `evidence.detail` are placeholders
 * the caller points at the patient and the dose.
 */
export function observationConditionOf(observation: DoseObservation): { condition: Condition; identifier: Identifier } | undefined {
  const { concept } = observation;
  const data = defaultSupportingData();
  const cdsi = [...new Set(observationCodesOfConcept(concept, data, observation.vaccine ? [observation.vaccine] : undefined))];
  if (cdsi.length === 0) return undefined;
  const identifier: Identifier = {
    system: OBSERVATION_KEY_SYSTEM,
    value: doseKey([observation.dose.system ?? '', observation.dose.value ?? '', observation.loinc, ...(concept.coding ?? []).map((c) => `${c.system ?? ''}|${c.code ?? ''}`)]),
  };
  const condition: Condition = {
    resourceType: 'Condition',
    identifier: [identifier],
    ...(observation.recorder ? { extension: [{ url: EXT.recordingOrganization, valueReference: observation.recorder }] } : {}),
    clinicalStatus: { coding: [{ system: CONDITION_CLINICAL, code: 'active', display: 'Active' }] },
    verificationStatus: { coding: [{ system: CONDITION_VERIFICATION, code: 'confirmed', display: 'Confirmed' }] },
    code: {
      coding: [
        ...cdsi.map((c) => {
          const title = data.observations.get(c)?.title;
          return title ? { system: CDSI_OBSERVATION_SYSTEM, code: c, display: title } : { system: CDSI_OBSERVATION_SYSTEM, code: c };
        }),
        ...(concept.coding ?? []),
      ],
      ...(concept.text ? { text: concept.text } : {}),
    },
    subject: { reference: 'Patient/placeholder' },
    ...(observation.onset ? { onsetDateTime: observation.onset } : {}),
    ...(observation.recordedDate ? { recordedDate: observation.recordedDate } : {}),
    evidence: [{ detail: [{ reference: 'Immunization/placeholder' }] }],
  };
  return { condition, identifier };
}

// ---- issue helpers ---------------------------------------------------------------------------

function dateIssue(segment: string, sequence: number, field: number, value: string, what: string): Hl7Issue {
  return { severity: 'W', hl7Code: '102', appCode: '2', text: `${segment}-${field} "${value}" is not a valid ${what}: it was ignored`, location: { segment, sequence, field } };
}

function tableIssue(segment: string, sequence: number, field: number, value: string, what: string): Hl7Issue {
  return { severity: 'W', hl7Code: '103', appCode: '5', text: `${segment}-${field} "${value}" is not a known ${what}: it was ignored`, location: { segment, sequence, field } };
}
