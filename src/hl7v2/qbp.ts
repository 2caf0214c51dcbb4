// QBP^Q11 → RSP^K11 (CDC guide release 1.5, chapter 7 and the 2014 addendum):
//   Z34 "Request Immunization History"  → Z32 (one patient, complete history), Z31 (candidates),
//                                           Z33 (none found, too many, or a query error);
//   Z44 "Request Evaluated History and Forecast" → Z42 (history with evaluations and forecast),
//                                           Z31 or Z33 likewise.
// The patient is looked up as the caller sees the registry (identifier search, then Patient/$match
// with its grades): patients whose data sharing hides them are simply not found (Z33 NF). The
// forecast comes from the same engine and operation as $immds-forecast, through the pipeline.
import type { Hl7Segment } from '@medplum/core';
import type {
  Bundle,
  Condition,
  Consent,
  Immunization,
  ImmunizationEvaluation,
  ImmunizationRecommendation,
  Parameters,
  Patient,
} from '@medplum/fhirtypes';
import { dataSharingOf } from '../consent/data-sharing.js';
import { isFhirError } from '../fhir/outcome.js';
import { comparePatients } from '../matching/compare.js';
import { GRADE_ORDER } from '../matching/types.js';
import { err, msa, responseMsh } from './ack.js';
import { buildMessage, component, components, firstSubcomponents, hl7ToFhirDateTime, repetitions, segment, subcomponent, subcomponents, type ParsedMessage } from './er7.js';
import type { FhirRunner } from './fhir-runner.js';
import { personRecords } from './person-records.js';
import { defaultSupportingData } from '../forecast/supporting-data.js';
import { conditionSegments, doseSegments, nk1Segments, pd1Segment, pidSegment } from './fhir-to-v2.js';
import { authoritySystem, isRegistryCx, SSN_SYSTEM, token } from './identifiers.js';
import { hl7IssueFrom } from './issue-map.js';
import type { Hl7Issue } from './problems.js';
import { EXT } from './vxu-to-fhir.js';

const MATCH_GRADE = 'http://hl7.org/fhir/StructureDefinition/match-grade';
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;

export type QueryProfile = 'Z34' | 'Z44';

export interface QueryResult {
  body: string;
  code: 'AA' | 'AE' | 'AR';
  issues: Hl7Issue[];
  status: number;
  /** Response profile sent: Z31, Z32, Z33 or Z42. */
  profile: string;
}

interface Query {
  profile: QueryProfile;
  tag: string;
  qpd: Hl7Segment;
  limit: number;
  patient: Patient;
  /** QPD-3 ids of this registry's records (SR, REGISTRY_AUTHORITY): the Patient ids they name. */
  registryIds: string[];
}

export async function processQbp(parsed: ParsedMessage, run: FhirRunner, today: () => string = isoToday): Promise<QueryResult> {
  const issues: Hl7Issue[] = [];
  const read = readQuery(parsed, issues);
  if ('error' in read) return answerNoPatient(parsed, read.qpd, read.tag, read.profile, 'AE', issues, 400);
  const query = read;
  try {
    const candidates = await findCandidates(query, run);
    if (candidates.kind === 'one') {
      const body = await historyResponse(parsed, query, candidates.patient, run, today, issues);
      return { body, code: 'AA', issues, status: 200, profile: query.profile === 'Z44' ? 'Z42' : 'Z32' };
    }
    if (candidates.patients.length === 0) return answerNoPatient(parsed, query.qpd, query.tag, query.profile, 'NF', issues, 200);
    if (candidates.patients.length > query.limit) {
      issues.push({
        severity: 'I',
        hl7Code: '0',
        appCode: '',
        text: `More than ${query.limit} patients match the query (RCP-2): add the patient's identifier, birth date or mother's maiden name`,
        location: { segment: 'RCP', sequence: 1, field: 2 },
      });
      return answerNoPatient(parsed, query.qpd, query.tag, query.profile, 'TM', issues, 200);
    }
    const body = buildMessage([
      responseMsh(parsed, ['RSP', 'K11', 'RSP_K11'], 'Z31'),
      msa('AA', parsed),
      ...issues.map(err),
      qak(query.tag, 'OK', query.profile, query.qpd),
      query.qpd,
      ...candidates.patients.flatMap((p, i) => [pidSegment(p, i + 1), ...nk1Segments(p)]),
    ]);
    return { body, code: 'AA', issues, status: 200, profile: 'Z31' };
  } catch (e) {
    if (!isFhirError(e)) throw e;
    issues.push(...(e.outcome.issue ?? []).map((i) => ({ ...hl7IssueFrom(i, 1), hl7Code: '207', appCode: '', location: undefined })));
    return answerNoPatient(parsed, query.qpd, query.tag, query.profile, 'AR', issues, e.status);
  }
}

function isoToday(): string {
  return new Date().toISOString().slice(0, 10);
}

/** QAK-3 echoes QPD-1, the query name as sent (HL7 v2.5.1 5.5.3): a query this registry does not answer too. */
function qak(tag: string, status: string, profile: QueryProfile, qpd?: Hl7Segment): Hl7Segment {
  const sent = qpd ? components(qpd, 1) : [];
  return segment('QAK', [tag, status, sent[0] ? sent : profileConcept(profile)]);
}

function profileConcept(profile: QueryProfile): string[] {
  return profile === 'Z44' ? ['Z44', 'Request Evaluated History and Forecast', 'CDCPHINVS'] : ['Z34', 'Request Immunization History', 'CDCPHINVS'];
}

/** Z33: no patient in the answer (not found, too many, or the query could not be run). */
function answerNoPatient(
  parsed: ParsedMessage,
  qpd: Hl7Segment | undefined,
  tag: string,
  profile: QueryProfile,
  status: 'NF' | 'TM' | 'AE' | 'AR',
  issues: Hl7Issue[],
  httpStatus: number
): QueryResult {
  const code = status === 'AE' ? 'AE' : status === 'AR' ? 'AR' : 'AA';
  const body = buildMessage([
    responseMsh(parsed, ['RSP', 'K11', 'RSP_K11'], 'Z33'),
    msa(code, parsed),
    ...issues.map(err),
    qak(tag, status, profile, qpd),
    ...(qpd ? [qpd] : []),
  ]);
  return { body, code, issues, status: httpStatus, profile: 'Z33' };
}

// ---- reading the query -----------------------------------------------------------------------

function readQuery(parsed: ParsedMessage, issues: Hl7Issue[]): Query | { error: true; qpd?: Hl7Segment; tag: string; profile: QueryProfile } {
  const qpd = parsed.message.segments.find((s) => s.name === 'QPD');
  const rcp = parsed.message.segments.find((s) => s.name === 'RCP');
  const named = (qpd ? component(qpd, 1, 1) : '') || parsed.profiles[0] || '';
  const profile: QueryProfile = named === 'Z44' ? 'Z44' : 'Z34';
  const tag = qpd ? component(qpd, 2, 1) : '';
  if (!qpd) {
    issues.push({ severity: 'E', hl7Code: '100', appCode: '7', text: 'The QBP has no QPD segment', location: { segment: 'QPD', sequence: 1 } });
    return { error: true, tag, profile };
  }
  if (named !== 'Z34' && named !== 'Z44') {
    issues.push({
      severity: 'E',
      hl7Code: '103',
      appCode: '5',
      text: `QPD-1 "${named}" is not a query this registry answers: use Z34 (history) or Z44 (evaluated history and forecast)`,
      location: { segment: 'QPD', sequence: 1, field: 1 },
    });
    return { error: true, qpd, tag, profile };
  }
  const registryIds: string[] = [];
  const patient = patientFromQpd(qpd, registryIds);
  const hasDemographics = !!patient.name?.[0]?.family && !!patient.birthDate;
  if (!patient.identifier?.length && registryIds.length === 0 && !hasDemographics) {
    issues.push({
      severity: 'E',
      hl7Code: '101',
      appCode: '7',
      text: 'The query needs a patient identifier (QPD-3) or the patient name (QPD-4) and birth date (QPD-6)',
      location: { segment: 'QPD', sequence: 1, field: patient.name?.[0]?.family ? 6 : 4 },
    });
    return { error: true, qpd, tag, profile };
  }
  let limit = DEFAULT_LIMIT;
  const requested = rcp ? component(rcp, 2, 1) : '';
  if (requested) {
    const n = Number(requested);
    if (Number.isInteger(n) && n > 0) limit = Math.min(n, MAX_LIMIT);
    else issues.push({ severity: 'W', hl7Code: '102', appCode: '4', text: `RCP-2 "${requested}" is not a positive number: ${DEFAULT_LIMIT} is used`, location: { segment: 'RCP', sequence: 1, field: 2 } });
  }
  return { profile, tag, qpd, limit, patient, registryIds };
}

/** The query's demographics as a Patient, for the identifier search and Patient/$match. */
function patientFromQpd(qpd: Hl7Segment, registryIds: string[]): Patient {
  const patient: Patient = { resourceType: 'Patient' };
  const identifier = repetitions(qpd, 3)
    .map((_, r) => components(qpd, 3, r))
    .filter((cx) => cx[0])
    .filter((cx) => {
      // The registry's own id (SR, as its RSP gives it): looked up as the record's id, not as an identifier.
      const [ns, uid] = subcomponents(cx[3] ?? '');
      if (!isRegistryCx(cx[0], ns, uid ?? '', cx[4] ?? '')) return true;
      registryIds.push(cx[0]);
      return false;
    })
    .map((cx) => {
      const [ns, uid, uidType] = subcomponents(cx[3] ?? '');
      const system = cx[4] === 'SS' ? SSN_SYSTEM : authoritySystem(ns, uid, uidType);
      return system ? { system, value: cx[0] } : { value: cx[0] };
    });
  if (identifier.length > 0) patient.identifier = identifier;
  const [family, given, middle] = firstSubcomponents(qpd, 4);
  // No given name sent: no `given` at all (an empty array is refused by $match's validation).
  const givens = [given, middle].filter((g): g is string => !!g);
  if (family || given) patient.name = [{ ...(family ? { family } : {}), ...(givens.length > 0 ? { given: givens } : {}) }];
  const maiden = subcomponent(qpd, 5, 1, 1);
  if (maiden) patient.extension = [{ url: EXT.mothersMaidenName, valueString: maiden }];
  const birth = hl7ToFhirDateTime(component(qpd, 6, 1));
  if (birth) patient.birthDate = birth.slice(0, 10);
  const sex = component(qpd, 7, 1).toUpperCase();
  if (sex === 'F' || sex === 'M') patient.gender = sex === 'F' ? 'female' : 'male';
  const address = firstSubcomponents(qpd, 8);
  if (address.some(Boolean)) {
    patient.address = [{ line: address[0] ? [address[0]] : undefined, city: address[2] || undefined, state: address[3] || undefined, postalCode: address[4] || undefined }];
  }
  const phone = components(qpd, 9);
  const number = `${phone[5] ?? ''}${phone[6] ?? ''}` || (phone[0] ?? '').replace(/\D/g, '');
  if (number) patient.telecom = [{ system: 'phone', value: number }];
  const multiple = component(qpd, 10, 1).toUpperCase();
  const order = component(qpd, 11, 1);
  if (order && /^\d+$/.test(order)) patient.multipleBirthInteger = Number(order);
  else if (multiple === 'Y' || multiple === 'N') patient.multipleBirthBoolean = multiple === 'Y';
  return patient;
}

// ---- finding the patient ---------------------------------------------------------------------

type Candidates = { kind: 'one'; patient: Patient } | { kind: 'many'; patients: Patient[] };

async function findCandidates(query: Query, run: FhirRunner): Promise<Candidates> {
  const { patient } = query;
  if (query.registryIds.length > 0) {
    // The registry's own id: the record itself, as the caller may see it (a hidden child is not
    // found), held to the demographics sent like an identifier hit.
    const response = await run({ method: 'GET', url: `Patient?_id=${query.registryIds.map(encodeURIComponent).join(',')}&active:not=false&_count=2` });
    const found = patientsOf(response.body as Bundle);
    if (found.length === 1 && confirmedBy(patient, found[0])) return { kind: 'one', patient: found[0] };
  }
  const identified = (patient.identifier ?? []).filter((i) => i.system);
  if (identified.length > 0) {
    // Records merged away ($merge: active false, replaced-by) carry the identifier too, as does the
    // record they were merged into: only the records still in use are asked for, else two merged-away
    // records could fill the two answers asked for and hide the survivor (a → b → c).
    const response = await run({ method: 'GET', url: `Patient?identifier=${identified.map(token).map(encodeURIComponent).join(',')}&active:not=false&_count=2` });
    const found = patientsOf(response.body as Bundle);
    // An identifier hit counts when the demographics sent do not contradict it: the birth date, and
    // the name as the matching engine weighs it (a twin or sibling carrying the same SSN has another
    // first name: the engine grades that below probable, so the query goes to $match).
    if (found.length === 1 && confirmedBy(patient, found[0])) {
      return { kind: 'one', patient: found[0] };
    }
  }
  if (!patient.name?.[0]?.family || !patient.birthDate) return { kind: 'many', patients: [] };
  const response = await run({
    method: 'POST',
    url: 'Patient/$match',
    body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient }, { name: 'count', valueInteger: query.limit + 1 }] },
  });
  const entries = ((response.body as Bundle).entry ?? []).filter((e) => e.resource?.resourceType === 'Patient');
  const graded = entries.map((e) => ({ patient: e.resource as Patient, grade: e.search?.extension?.find((x) => x.url === MATCH_GRADE)?.valueCode }));
  const certain = graded.filter((g) => g.grade === 'certain');
  if (certain.length === 1) return { kind: 'one', patient: certain[0].patient };
  return { kind: 'many', patients: graded.map((g) => g.patient) };
}

/** A record an id names is the one asked for unless the demographics sent contradict it. */
function confirmedBy(query: Patient, found: Patient): boolean {
  return (!query.birthDate || found.birthDate === query.birthDate) && !namesAnotherChild(query, found);
}

/** The query names someone the engine would not even send to review against this record. */
function namesAnotherChild(query: Patient, found: Patient): boolean {
  if (!query.name?.[0]?.given?.length) return false;
  return GRADE_ORDER[comparePatients(query, found).grade] < GRADE_ORDER.probable;
}

function patientsOf(bundle: Bundle): Patient[] {
  return (bundle.entry ?? []).map((e) => e.resource as Patient).filter((p) => p?.resourceType === 'Patient' && p.active !== false);
}

// ---- the answer for one patient ----------------------------------------------------------------

async function historyResponse(
  parsed: ParsedMessage,
  query: Query,
  patient: Patient,
  run: FhirRunner,
  today: () => string,
  issues: Hl7Issue[]
): Promise<string> {
  const immunizations = await readAll<Immunization>(run, `Immunization?patient=Patient/${patient.id}&_count=1000`);
  immunizations.sort((a, b) => (a.occurrenceDateTime ?? '').localeCompare(b.occurrenceDateTime ?? ''));
  // The child's data-sharing status is the person's: the choices recorded on every record merged
  // into this one (or this one's) count, the newest deciding, as the registry applies it.
  const records = await personRecords(run, patient);
  const consents = await readAll<Consent>(run, `Consent?patient=${records.map((id) => `Patient/${id}`).join(',')}&_count=100`);
  const sharing = dataSharingOf(consents);
  const deciding = consents.find((c) => c.id === sharing.decidedBy);
  const segments: Hl7Segment[] = [
    responseMsh(parsed, ['RSP', 'K11', 'RSP_K11'], query.profile === 'Z44' ? 'Z42' : 'Z32'),
    msa('AA', parsed),
    ...issues.map(err),
    qak(query.tag, 'OK', query.profile, query.qpd),
    query.qpd,
    pidSegment(patient),
  ];
  const pd1 = pd1Segment(patient, { status: sharing.status, since: deciding?.dateTime });
  if (pd1) segments.push(pd1);
  segments.push(...nk1Segments(patient));
  const assessmentDate = today();
  const conditions = await conditionsOf(run, patient);
  const observed = conditionSegments(conditions, immunizations, assessmentDate, defaultSupportingData());
  if (query.profile === 'Z34') {
    for (const imm of immunizations) segments.push(...doseSegments(imm));
    segments.push(...observed);
    return buildMessage(segments);
  }
  const forecast = await run({ method: 'GET', url: `Patient/${patient.id}/$immds-forecast?assessmentDate=${assessmentDate}` });
  const parameters = forecast.body as Parameters;
  const evaluations = (parameters.parameter ?? []).filter((p) => p.name === 'evaluation').map((p) => p.resource as ImmunizationEvaluation);
  const recommendation = parameters.parameter?.find((p) => p.name === 'recommendation')?.resource as ImmunizationRecommendation | undefined;
  for (const imm of immunizations) {
    const own = evaluations.filter((e) => e.immunizationEvent?.reference === `Immunization/${imm.id}`);
    // The dose's own OBX first: the evaluation's OBX-1 continues after them (within its RXA).
    segments.push(...doseSegments(imm));
    segments.push(...evaluationSegments(own, nextObxSetId(segments)));
  }
  segments.push(...observed);
  if (recommendation) segments.push(...forecastSegments(recommendation, assessmentDate));
  return buildMessage(segments);
}

/**
 * The patient's Conditions as the caller may read them (data sharing applies as to every search);
 * a caller whose scopes do not cover Condition gets the history without them, as
 * `Patient/{id}/$immds-forecast` then forecasts from the doses alone.
 */
async function conditionsOf(run: FhirRunner, patient: Patient): Promise<Condition[]> {
  try {
    return await readAll<Condition>(run, `Condition?patient=Patient/${patient.id}&_count=1000`);
  } catch (error) {
    if (isFhirError(error) && error.status === 403) return [];
    throw error;
  }
}

async function readAll<T>(run: FhirRunner, url: string): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined = url;
  for (let page = 0; next && page < 50; page++) {
    const response = await run({ method: 'GET', url: next });
    const bundle = response.body as Bundle;
    out.push(...(bundle.entry ?? []).filter((e) => e.search?.mode !== 'include' && e.resource).map((e) => e.resource as T));
    const link = bundle.link?.find((l) => l.relation === 'next')?.url;
    next = link ? link.replace(/^.*?\/fhir\//, '') : undefined;
  }
  return out;
}

/** OBX-1 continues after the dose's own OBX segments. */
function nextObxSetId(segments: Hl7Segment[]): number {
  let n = 0;
  for (let i = segments.length - 1; i >= 0 && segments[i].name !== 'RXA'; i--) if (segments[i].name === 'OBX') n += 1;
  return n + 1;
}

// ---- Z42: evaluations and forecast --------------------------------------------------------------

/**
 * CDSi vaccine group names → the CVX "unspecified formulation" code that names the group in OBX
 * 30956-7 (the IG's Z42 names each evaluated and forecast vaccine group by such a code). RSV is
 * 304 "RSV, unspecified" (the group holds the vaccines and the infant antibodies); Chikungunya
 * has no unspecified code in CDC's CVX table: its OBX-5 carries the group's name only.
 */
export const GROUP_CVX: Record<string, string> = {
  'DTaP/Tdap/Td': '107',
  Polio: '89',
  HepB: '45',
  Hib: '17',
  Pneumococcal: '109',
  MMR: '03',
  Varicella: '21',
  Rotavirus: '122',
  HepA: '85',
  HPV: '137',
  Influenza: '88',
  Meningococcal: '108',
  'Meningococcal B': '164',
  'COVID-19': '213',
  Zoster: '188',
  RSV: '304',
  Cholera: '26',
  Dengue: '330',
  Ebola: '214',
  'Japanese Encephalitis': '129',
  Orthopoxvirus: '325',
  Rabies: '90',
  TBE: '222',
  Typhoid: '91',
  'Yellow Fever': '184',
};

/** OBX-5 of a 30956-7: the vaccine group as its CVX code (the name alone when it has none). */
function vaccineGroupValue(group: string): string[] {
  const cvx = GROUP_CVX[group];
  return cvx ? [cvx, group, 'CVX'] : ['', group, ''];
}

function obxSegment(setId: number, valueType: string, code: string, name: string, subId: number, value: string | string[] | undefined): Hl7Segment {
  return segment('OBX', [String(setId), valueType, [code, name, 'LN'], String(subId), value, undefined, undefined, undefined, undefined, undefined, 'F']);
}

/**
 * The evaluations of one dose, one OBX group per vaccine group as the IG's Z42 reports them (a
 * DTaP dose is one DTaP/Tdap/Td group, not its Diphtheria, Tetanus and Pertussis antigens): valid
 * when every antigen of the group counted it, the dose number when they agree, the reasons of
 * those that did not.
 */
function evaluationSegments(evaluations: ImmunizationEvaluation[], firstSetId: number): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  let setId = firstSetId;
  evaluationsByGroup(evaluations).forEach(({ group, evaluations: own }, i) => {
    const subId = 100 + i;
    out.push(obxSegment(setId++, 'CE', '30956-7', 'Vaccine Type', subId, vaccineGroupValue(group)));
    out.push(obxSegment(setId++, 'CE', '59779-9', 'Immunization Schedule used', subId, ['VXC16', 'ACIP', 'CDCPHINVS']));
    const doses = new Set(own.map((e) => e.doseNumberPositiveInt ?? e.doseNumberString));
    const [dose] = doses;
    if (doses.size === 1 && dose !== undefined) out.push(obxSegment(setId++, 'NM', '30973-2', 'Dose number in series', subId, String(dose)));
    const invalid = own.filter((e) => e.doseStatus?.coding?.[0]?.code !== 'valid');
    out.push(obxSegment(setId++, 'ID', '59781-5', 'Dose validity', subId, invalid.length === 0 ? 'Y' : 'N'));
    const reasons = [...new Set(invalid.map((e) => e.doseStatusReason?.[0]?.text).filter((r): r is string => !!r))];
    if (reasons.length > 0) out.push(obxSegment(setId++, 'CE', '30982-3', 'Reason applied by forecast logic to project this vaccine', subId, ['', reasons.join('; '), '']));
  });
  return out;
}

/** A dose's evaluations (one per CDSi antigen) grouped by the CDSi vaccine group of their antigen, in the order first met. */
function evaluationsByGroup(evaluations: ImmunizationEvaluation[]): Array<{ group: string; evaluations: ImmunizationEvaluation[] }> {
  const groups = new Map<string, ImmunizationEvaluation[]>();
  for (const evaluation of evaluations) {
    const antigen = evaluation.targetDisease?.text ?? evaluation.targetDisease?.coding?.[0]?.display ?? '';
    const group = vaccineGroupOfAntigen(antigen);
    groups.set(group, [...(groups.get(group) ?? []), evaluation]);
  }
  return [...groups].map(([group, own]) => ({ group, evaluations: own }));
}

function vaccineGroupOfAntigen(antigen: string): string {
  return defaultSupportingData().vaccineGroups.find((g) => g.antigens.includes(antigen))?.name ?? antigen;
}

const FORECAST_DATES: Array<[string, string, string]> = [
  ['30980-7', 'Date vaccine due', '30980-7'],
  ['30981-5', 'Earliest date to give', '30981-5'],
  ['59777-3', 'Latest date next dose may be given', '59777-3'],
  ['59778-1', 'Date when overdue for immunization', '59778-1'],
];

function forecastSegments(recommendation: ImmunizationRecommendation, assessmentDate: string): Hl7Segment[] {
  const date = assessmentDate.replace(/-/g, '');
  const out: Hl7Segment[] = [
    segment('ORC', ['RE', undefined, ['9999', 'CDC']]),
    segment('RXA', ['0', '1', date, date, ['998', 'No vaccine administered', 'CVX'], '999', undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'NA']),
  ];
  let setId = 1;
  recommendation.recommendation?.forEach((rec, i) => {
    const subId = i + 1;
    const group = rec.vaccineCode?.[0]?.text ?? '';
    out.push(obxSegment(setId++, 'CE', '30956-7', 'Vaccine Type', subId, vaccineGroupValue(group)));
    out.push(obxSegment(setId++, 'CE', '59779-9', 'Immunization Schedule used', subId, ['VXC16', 'ACIP', 'CDCPHINVS']));
    const status = rec.forecastStatus?.coding?.[0]?.code ?? '';
    out.push(obxSegment(setId++, 'CE', '59783-1', 'Status in immunization series', subId, [status, rec.forecastStatus?.coding?.[0]?.display ?? status, 'ImmDSForecastStatus']));
    if (rec.doseNumberPositiveInt !== undefined) out.push(obxSegment(setId++, 'NM', '30973-2', 'Dose number in series', subId, String(rec.doseNumberPositiveInt)));
    for (const [code, name] of FORECAST_DATES) {
      const value = rec.dateCriterion?.find((d) => d.code?.coding?.some((c) => c.code === code))?.value;
      if (value) out.push(obxSegment(setId++, 'DT', code, name, subId, value.slice(0, 10).replace(/-/g, '')));
    }
  });
  return out;
}
