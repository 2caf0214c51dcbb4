// Reader of the AIRA / MIIS labelled patient-pair files (immregistries/patient-matching and
// mismo-trainer; format in test/fixtures/patient-matching/README.md) and the mapping of their
// fields onto FHIR Patients, for the evaluation script and the tests.
import type { Extension, Identifier, Patient } from '@medplum/fhirtypes';
import { IDENTIFIER_TYPE_SYSTEM, MOTHERS_MAIDEN_NAME_URL, SSN_SYSTEM } from './features.js';

export type PairLabel = 'Match' | 'Possible Match' | 'Not a Match' | 'Not Sure';

export interface LabelledPair {
  /** `S-1:ADDRESS_CHANGED:IDEAL-IDEAL`, `PM-12:FN:…`, `AART-TM-00012`, or `(unlabelled after D-1225)`. */
  test: string;
  /** `S-1`, `D-7`, `PM-12`, `AART-TM-00012`. */
  id: string;
  /** S (same person), D (different people), PM, EE, AART-TM. */
  kind: string;
  /** Scenario for S/D tests (ADDRESS_CHANGED…), `PM:<area>` for PM tests, else the kind. */
  category: string;
  expect: PairLabel;
  a: Record<string, string>;
  b: Record<string, string>;
}

const LABELS = new Set<string>(['Match', 'Possible Match', 'Not a Match', 'Not Sure']);

/** Parses one pair file. Values containing commas (`COFFIN, III`) are re-joined. */
export function parsePairFile(text: string): LabelledPair[] {
  const out: LabelledPair[] = [];
  let test: string | undefined;
  let lastTest = '';
  let expect: PairLabel | undefined;
  let a: Record<string, string> | undefined;
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.startsWith('TEST:')) {
      test = line.slice(5).trim();
      expect = undefined;
      a = undefined;
    } else if (line.startsWith('EXPECT:')) {
      const label = line.slice(7).trim();
      expect = LABELS.has(label) ? (label as PairLabel) : undefined;
      a = undefined;
    } else if (line.startsWith('PATIENT A:')) {
      a = parseFields(line.slice(10));
    } else if (line.startsWith('PATIENT B:') && a && expect) {
      const label = test ?? `(unlabelled after ${lastTest})`;
      out.push({ test: label, ...classify(label), expect, a, b: parseFields(line.slice(10)) });
      if (test) lastTest = test.split(':')[0];
      test = undefined;
      expect = undefined;
      a = undefined;
    }
  }
  return out;
}

function classify(test: string): { id: string; kind: string; category: string } {
  const parts = test.split(':');
  const id = parts[0];
  if (/^[SD]-\d+$/.test(id)) return { id, kind: id[0], category: parts[1] ?? '?' };
  if (id.startsWith('PM-')) return { id, kind: 'PM', category: `PM:${parts[1] ?? '?'}` };
  if (id.startsWith('AART-TM')) return { id, kind: 'AART-TM', category: 'AART-TM' };
  if (id.startsWith('EE-')) return { id, kind: 'EE', category: 'EE' };
  return { id, kind: '?', category: '?' };
}

function parseFields(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last: string | undefined;
  for (const token of s.split(',')) {
    const eq = token.indexOf('=');
    if (eq > 0 && /^[A-Za-z0-9]+$/.test(token.slice(0, eq).trim())) {
      last = token.slice(0, eq).trim();
      out[last] = token.slice(eq + 1).trim();
    } else if (last !== undefined && token.trim() !== '') {
      out[last] = `${out[last]}, ${token.trim()}`; // a value with a comma in it
    }
  }
  return out;
}

export const DATA_ABSENT_REASON_URL = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
export const TEST_MEDICAID_SYSTEM = 'urn:iis-test:medicaid:MI';
export const TEST_MRN_SYSTEM = 'urn:iis-test:mrn:provider-';

const typeOf = (code: string) => ({ coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code }] });

/**
 * One pair-file record as a FHIR Patient. Field mapping:
 *   nameFirst/nameMiddle/nameLast/nameSuffix → name[0] (official), a suffix written into nameLast
 *   (`COFFIN, III`) as the suffix; nameAlias → a `nickname` name;
 *   nameLastHyph is ignored (upstream: a generator's holding place, "not to be used in production");
 *   birthDate YYYYMMDD (or YYYY-MM-DD, MM/DD/YYYY) → birthDate; gender M/F (or male/female) →
 *   male/female;
 *   motherMaidenName → extension patient-mothersMaidenName;
 *   guardianNameFirst/Last → contact (v3-RoleCode GUARD); motherNameFirst/Middle/Last and
 *   fatherNameFirst/Last (fields of mismo's Patient model that our files leave out) → contacts
 *   (MTH, FTH);
 *   addressStreet1/2, City, State, Zip → address[0]; address2Street1/2, City, State, Zip →
 *   address[1] (address2Zip alone: address[0]'s ZIP when there is no addressZip, as the AART-TM
 *   records write their ZIP there); address3… → address[2];
 *   phone, phone2 → telecom phone; email → telecom email; ssn → identifier us-ssn (type SS);
 *   medicaid → identifier type MA; mrns `P-VALUE` (several separated by `|`, `,` or spaces) →
 *   identifier type MR, system per provider P (an MRN is only comparable within one provider);
 *   birthStatus Y/N, birthType (children in the birth), birthOrder → multipleBirthInteger (order,
 *   when part of a multiple birth or when only the order is known), multipleBirthBoolean otherwise
 *   (a birthOrder of `true`/`false`, as mismo writes FHIR's multipleBirthBoolean, is that flag).
 * Labelled sets written by other tools may spell dates and sexes the FHIR way or carry fields our
 * files do not: reading them here keeps a set from being scored without its birth dates.
 */
export function toPatient(fields: Record<string, string>, id: string): Patient {
  const v = (k: string) => (fields[k] ?? '').trim();
  const p: Patient = { resourceType: 'Patient', id };
  const names: NonNullable<Patient['name']> = [];
  // An empty first name with a middle name stays a middle name: `given: [null, middle]` with a
  // data-absent-reason on the first repetition, as FHIR writes a missing repeat.
  const firstAbsent = v('nameFirst') === '' && v('nameMiddle') !== '';
  const given = firstAbsent ? [null as unknown as string, v('nameMiddle')] : [v('nameFirst'), v('nameMiddle')].filter((x) => x !== '');
  // A generational suffix written into the surname ("COFFIN, III") is a suffix, as FHIR has it.
  const suffixed = /^(.+?),\s*(JR|SR|II|III|IV|V)\.?$/i.exec(v('nameLast'));
  const family = suffixed ? suffixed[1].trim() : v('nameLast');
  const suffix = v('nameSuffix') || (suffixed ? suffixed[2] : '');
  if (given.length > 0 || family !== '') {
    names.push({
      use: 'official',
      ...(family ? { family } : {}),
      ...(given.length ? { given } : {}),
      ...(firstAbsent ? { _given: [{ extension: [{ url: DATA_ABSENT_REASON_URL, valueCode: 'unknown' }] }, null] } : {}),
      ...(suffix ? { suffix: [suffix] } : {}),
    });
  }
  if (v('nameAlias')) names.push({ use: 'nickname', given: [v('nameAlias')], ...(family ? { family } : {}) });
  if (names.length) p.name = names;

  const birthDate = fhirDate(v('birthDate'));
  if (birthDate) p.birthDate = birthDate;
  const g = v('gender').toUpperCase();
  if (g === 'M' || g === 'MALE') p.gender = 'male';
  else if (g === 'F' || g === 'FEMALE') p.gender = 'female';

  const ext: Extension[] = [];
  if (v('motherMaidenName')) ext.push({ url: MOTHERS_MAIDEN_NAME_URL, valueString: v('motherMaidenName') });
  if (ext.length) p.extension = ext;

  const contacts: NonNullable<Patient['contact']> = [];
  const contact = (role: string, first: string, last: string, middle = '') => {
    if (!first && !last) return;
    const given = [first, middle].filter((x) => x !== '');
    contacts.push({
      relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: role }] }],
      name: { ...(last ? { family: last } : {}), ...(given.length ? { given } : {}) },
    });
  };
  contact('GUARD', v('guardianNameFirst'), v('guardianNameLast'));
  contact('MTH', v('motherNameFirst'), v('motherNameLast'), v('motherNameMiddle'));
  contact('FTH', v('fatherNameFirst'), v('fatherNameLast'));
  if (contacts.length) p.contact = contacts;

  const addresses: NonNullable<Patient['address']> = [];
  const address = (prefix: string, zip: string) => {
    const lines = [v(`${prefix}Street1`), v(`${prefix}Street2`)].filter((x) => x !== '');
    const city = v(`${prefix}City`);
    const state = v(`${prefix}State`);
    if (!lines.length && !city && !zip && !state) return;
    addresses.push({ ...(lines.length ? { line: lines } : {}), ...(city ? { city } : {}), ...(state ? { state } : {}), ...(zip ? { postalCode: zip } : {}) });
  };
  // The AART-TM records carry their ZIP as address2Zip, with no addressZip and no other address2
  // field (shared data README): that ZIP is the first address's.
  const secondAddress = ['Street1', 'Street2', 'City', 'State'].some((f) => v(`address2${f}`) !== '');
  const zipOnlyInSecond = !v('addressZip') && !secondAddress;
  address('address', v('addressZip') || (zipOnlyInSecond ? v('address2Zip') : ''));
  address('address2', zipOnlyInSecond ? '' : v('address2Zip'));
  address('address3', v('address3Zip'));
  if (addresses.length) p.address = addresses;
  const telecom: NonNullable<Patient['telecom']> = [];
  for (const phone of [v('phone'), v('phone2')]) if (phone) telecom.push({ system: 'phone', value: phone });
  if (v('email')) telecom.push({ system: 'email', value: v('email') });
  if (telecom.length) p.telecom = telecom;

  const ids: Identifier[] = [];
  if (v('ssn')) ids.push({ type: typeOf('SS'), system: SSN_SYSTEM, value: v('ssn') });
  if (v('medicaid')) ids.push({ type: typeOf('MA'), system: TEST_MEDICAID_SYSTEM, value: v('medicaid') });
  for (const mrn of v('mrns').split(/[|,\s]+/).filter(Boolean)) {
    const m = /^([^-]+)-(.+)$/.exec(mrn);
    ids.push({ type: typeOf('MR'), system: `${TEST_MRN_SYSTEM}${m ? m[1] : 'unknown'}`, value: m ? m[2] : mrn });
  }
  if (ids.length) p.identifier = ids;

  const status = v('birthStatus').toUpperCase();
  const type = Number(v('birthType') || '0');
  const flag = v('birthOrder').toLowerCase();
  const order = flag === 'true' || flag === 'false' ? 0 : Number(v('birthOrder') || '0');
  const multiple = status === 'Y' || type >= 2 || flag === 'true' ? true : status === 'N' || type === 1 || flag === 'false' ? false : undefined;
  if (multiple === true) {
    if (order >= 1) p.multipleBirthInteger = order;
    else p.multipleBirthBoolean = true;
  } else if (multiple === false) {
    if (order >= 2) p.multipleBirthInteger = order; // contradictory source: keep the order
    else p.multipleBirthBoolean = false;
  } else if (order >= 1) {
    p.multipleBirthInteger = order;
  }
  return p;
}

/** A pair file's birth date as a FHIR date: YYYYMMDD (our files), YYYY-MM-DD or MM/DD/YYYY; else undefined. */
function fhirDate(value: string): string | undefined {
  const compact = /^(\d{4})(\d{2})(\d{2})$/.exec(value) ?? /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (compact) return `${compact[1]}-${compact[2]}-${compact[3]}`;
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(value);
  if (us) return `${us[3]}-${us[1].padStart(2, '0')}-${us[2].padStart(2, '0')}`;
  return undefined;
}
