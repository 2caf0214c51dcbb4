// Facts a submitter withdrew from a patient's record: HL7 v2's null `""` ("delete the value the
// receiver holds", v2.5.1 section 2.5.3) in a PID/PD1/NK1 field. They are removed from the stored
// record before the message's own values are merged into it, on both ways a message reaches a
// record: the record its PID-3 names (an update), and the one a certain match finds for a create
// (newborn reconciliation, src/matching/ingest.ts). An element the message leaves empty is "no
// information": the stored value stays. A `""` in one component of a field (PID-5 `SMITH^JOHN^""`,
// PID-11 `12 Main^""^Boston`) deletes that part of the stored values the message's repetition
// stands for (WithdrawnParts).
import type { Address, ContactPoint, HumanName, Patient } from '@medplum/fhirtypes';

/** Top-level Patient elements a message may withdraw (never name, birthDate or identifier: those identify the patient). */
export type WithdrawableElement =
  | 'gender'
  | 'address'
  | 'contact'
  | 'multipleBirthBoolean'
  | 'multipleBirthInteger'
  | 'deceasedBoolean'
  | 'deceasedDateTime';

export interface WithdrawnFacts {
  elements: WithdrawableElement[];
  /** Extensions removed by url (mother's maiden name, race, ethnicity, publicity code, registry status…). */
  extensions: string[];
  /** Telecoms removed by where the message carries them: `work` (PID-14 business phone) or `other` (PID-13: home, mobile, e-mail…). */
  telecoms: Array<'work' | 'other'>;
  /** Parts of names, addresses and telecoms sent as `""` in one component of a repetition. */
  parts: WithdrawnParts;
}

/**
 * A repetition with `""` in some components stands for the stored values that agree with it on
 * every part it sends with a value (`sent`); from those, the parts sent as `""` (`remove`) are
 * deleted. Parts it leaves empty are "no information": not compared, not deleted.
 */
export interface WithdrawnParts {
  /** PID-5: middle names (`given` after the first), suffix, prefix. Family and given names identify the patient: never deleted. */
  names: Array<{ sent: { family?: string; given?: string }; remove: Array<'middle' | 'suffix' | 'prefix'> }>;
  /** PID-11: street (first line), other designation (second line), city, state, zip, country, county. */
  addresses: Array<{ sent: Partial<Record<AddressPart, string>>; remove: AddressPart[] }>;
  /**
   * PID-13/14: the telecoms of `system` and `use` whose number agrees with the digits sent (area
   * code `areaCode`, local number `local`): `number` deletes them, `extension` / `country` strip
   * that part of their value (`(617)555-1234 x12` → `(617)555-1234`).
   */
  telecoms: Array<{ system: ContactPoint['system']; use: ContactPoint['use']; areaCode?: string; local?: string; remove: Array<'number' | 'extension' | 'country'> }>;
}

export type AddressPart = 'street' | 'other' | 'city' | 'state' | 'postalCode' | 'country' | 'district';

export function noWithdrawnFacts(): WithdrawnFacts {
  return { elements: [], extensions: [], telecoms: [], parts: { names: [], addresses: [], telecoms: [] } };
}

export function withdrawsAnything(facts: WithdrawnFacts | undefined): facts is WithdrawnFacts {
  return (
    !!facts &&
    (facts.elements.length > 0 ||
      facts.extensions.length > 0 ||
      facts.telecoms.length > 0 ||
      facts.parts.names.length > 0 ||
      facts.parts.addresses.length > 0 ||
      facts.parts.telecoms.length > 0)
  );
}

/** The record without the withdrawn facts (a copy; the record itself is left as it is). */
export function withoutWithdrawnFacts(patient: Patient, facts: WithdrawnFacts | undefined): Patient {
  if (!withdrawsAnything(facts)) return patient;
  const out: Patient = { ...patient };
  for (const element of facts.elements) delete out[element];
  if (facts.extensions.length > 0 && out.extension) {
    const kept = out.extension.filter((e) => !facts.extensions.includes(e.url));
    if (kept.length > 0) out.extension = kept;
    else delete out.extension;
  }
  if (facts.telecoms.length > 0 && out.telecom) {
    const place = (t: ContactPoint): 'work' | 'other' => (t.use === 'work' ? 'work' : 'other');
    const kept = out.telecom.filter((t) => !facts.telecoms.includes(place(t)));
    if (kept.length > 0) out.telecom = kept;
    else delete out.telecom;
  }
  return withoutWithdrawnParts(out, facts.parts);
}

function withoutWithdrawnParts(patient: Patient, parts: WithdrawnParts): Patient {
  const out = patient;
  if (parts.names.length > 0 && out.name) {
    out.name = out.name.map((name) => parts.names.reduce((n, w) => (nameAgrees(n, w.sent) ? withoutNameParts(n, w.remove) : n), name));
  }
  if (parts.addresses.length > 0 && out.address) {
    const kept = out.address
      .map((address) => parts.addresses.reduce<Address | undefined>((a, w) => (a && addressAgrees(a, w.sent) ? withoutAddressParts(a, w.remove) : a), address))
      .filter((a): a is Address => !!a);
    if (kept.length > 0) out.address = kept;
    else delete out.address;
  }
  if (parts.telecoms.length > 0 && out.telecom) {
    const kept = out.telecom
      .map((telecom) => parts.telecoms.reduce<ContactPoint | undefined>((t, w) => (t && telecomAgrees(t, w) ? withoutTelecomParts(t, w.remove) : t), telecom))
      .filter((t): t is ContactPoint => !!t);
    if (kept.length > 0) out.telecom = kept;
    else delete out.telecom;
  }
  return out;
}

const fold = (s: string | undefined): string => (s ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().trim();

function nameAgrees(name: HumanName, sent: WithdrawnParts['names'][number]['sent']): boolean {
  return (sent.family === undefined || fold(name.family) === fold(sent.family)) && (sent.given === undefined || fold(name.given?.[0]) === fold(sent.given));
}

function withoutNameParts(name: HumanName, remove: WithdrawnParts['names'][number]['remove']): HumanName {
  const out: HumanName = { ...name };
  if (remove.includes('middle') && out.given && out.given.length > 1) out.given = out.given.slice(0, 1);
  if (remove.includes('suffix')) delete out.suffix;
  if (remove.includes('prefix')) delete out.prefix;
  return out;
}

function addressPart(address: Address, part: AddressPart): string | undefined {
  if (part === 'street') return address.line?.[0];
  if (part === 'other') return address.line?.[1];
  return address[part];
}

function addressAgrees(address: Address, sent: Partial<Record<AddressPart, string>>): boolean {
  return Object.entries(sent).every(([part, value]) => fold(addressPart(address, part as AddressPart)) === fold(value));
}

/** The address without those parts; none when nothing of it is left. */
function withoutAddressParts(address: Address, remove: AddressPart[]): Address | undefined {
  const out: Address = { ...address };
  const line = [...(address.line ?? [])];
  if (remove.includes('other')) line.splice(1, 1);
  if (remove.includes('street') && line.length > 0) line.splice(0, 1);
  if (line.length > 0) out.line = line;
  else delete out.line;
  for (const part of ['city', 'state', 'postalCode', 'country', 'district'] as const) if (remove.includes(part)) delete out[part];
  return out.line || out.city || out.state || out.postalCode || out.country || out.district ? out : undefined;
}

/** A phone's value without its country prefix (`+1 `) and extension (` x12`). */
const COUNTRY_PREFIX = /^\+\S+ /;
const EXTENSION_SUFFIX = / x\S+$/;

function telecomAgrees(telecom: ContactPoint, w: WithdrawnParts['telecoms'][number]): boolean {
  if (telecom.system !== w.system || (telecom.use ?? 'home') !== w.use) return false;
  if (w.system === 'email') return true;
  const digits = (telecom.value ?? '').replace(COUNTRY_PREFIX, '').replace(EXTENSION_SUFFIX, '').replace(/\D/g, '');
  if (w.areaCode !== undefined && w.local !== undefined) return digits === `${w.areaCode}${w.local}`.replace(/\D/g, '');
  if (w.areaCode !== undefined) return digits.startsWith(w.areaCode.replace(/\D/g, ''));
  if (w.local !== undefined) return digits.endsWith(w.local.replace(/\D/g, ''));
  return true;
}

function withoutTelecomParts(telecom: ContactPoint, remove: WithdrawnParts['telecoms'][number]['remove']): ContactPoint | undefined {
  if (remove.includes('number')) return undefined;
  let value = telecom.value ?? '';
  if (remove.includes('country')) value = value.replace(COUNTRY_PREFIX, '');
  if (remove.includes('extension')) value = value.replace(EXTENSION_SUFFIX, '');
  return { ...telecom, value };
}

/**
 * A Patient create's request marked with the facts its sender withdrew, for the certain match that
 * turns the create into an update of an existing record. A Symbol key, set only by code (the HL7 v2
 * path): a client's JSON cannot carry it, so a FHIR create merges as ever.
 */
const WITHDRAWN_FACTS: unique symbol = Symbol('withdrawnFacts');

export function markWithdrawnFacts<T extends object>(request: T, facts: WithdrawnFacts): T {
  if (withdrawsAnything(facts)) (request as { [WITHDRAWN_FACTS]?: WithdrawnFacts })[WITHDRAWN_FACTS] = facts;
  return request;
}

export function withdrawnFactsOf(request: object): WithdrawnFacts | undefined {
  return (request as { [WITHDRAWN_FACTS]?: WithdrawnFacts })[WITHDRAWN_FACTS];
}
