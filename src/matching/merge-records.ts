// Folding one Patient record into another (a certain match on create, a hospital update of a
// merged record, $merge): placeholder newborn names become `use: old`, the legal name is
// `official`, identifiers, telecoms and addresses are united, and missing facts are filled in.
import type { HumanName, Patient } from '@medplum/fhirtypes';
import { placeholderInfo } from './newborn.js';

const isPlaceholder = (name: HumanName): boolean => placeholderInfo(name).placeholder;

/** The survivor (existing record) with what the incoming record adds. Pure; returns a copy. */
export function mergeInto(existing: Patient, incoming: Patient): Patient {
  const merged: Patient = structuredClone(existing);
  merged.name = mergeNames(existing.name ?? [], incoming.name ?? []);
  merged.identifier = union(existing.identifier, incoming.identifier, (i) => `${i.system ?? ''}|${i.value ?? ''}`);
  merged.telecom = union(existing.telecom, incoming.telecom, (t) => `${t.system ?? ''}|${digitsOrValue(t.value)}`);
  merged.address = union(existing.address, incoming.address, (a) => JSON.stringify([a.line, a.city, a.postalCode]));
  for (const key of ['gender', 'birthDate', 'multipleBirthBoolean', 'multipleBirthInteger', 'deceasedBoolean', 'deceasedDateTime'] as const) {
    if (merged[key] === undefined && incoming[key] !== undefined) (merged as unknown as Record<string, unknown>)[key] = incoming[key];
  }
  merged.extension = union(existing.extension, incoming.extension, (e) => JSON.stringify(e));
  merged.contact = union(existing.contact, incoming.contact, (c) => JSON.stringify(c.name ?? c));
  for (const key of ['name', 'identifier', 'telecom', 'address', 'extension', 'contact'] as const) {
    if (Array.isArray(merged[key]) && (merged[key] as unknown[]).length === 0) delete merged[key];
  }
  return merged;
}

/**
 * Legal names are official, placeholders old. When the incoming record brings a legal name, it
 * becomes the official one and earlier legal names are kept as old; a placeholder arriving after
 * the legal name (a late hospital message) is kept as old and never displaces it.
 */
export function mergeNames(existing: HumanName[], incoming: HumanName[]): HumanName[] {
  const incomingLegal = incoming.filter((n) => !isPlaceholder(n));
  const out: HumanName[] = [];
  const seen = new Set<string>();
  const push = (name: HumanName, use: HumanName['use']) => {
    const key = nameKey(name);
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ ...name, use });
  };
  if (incomingLegal.length === 0 && !existing.some((n) => !isPlaceholder(n) && n.use !== 'old')) {
    // No legal name on either side yet (the hospital's next message for its newborn, still "Baby
    // Boy"): the placeholder stays the current name, as the first message stored it. Made old, it
    // left the record with no current name, and the message was refused (name-missing).
    for (const n of [...existing, ...incoming]) push(n, n.use ?? 'official');
    return out;
  }
  if (incomingLegal.length > 0) {
    for (const n of incomingLegal) push(n, n.use && n.use !== 'old' ? n.use : 'official');
    for (const n of existing) push(n, isPlaceholder(n) || n.use === 'official' || n.use === 'usual' ? 'old' : n.use);
  } else {
    for (const n of existing) push(n, isPlaceholder(n) ? 'old' : n.use ?? 'official');
  }
  for (const n of incoming) if (isPlaceholder(n)) push(n, 'old');
  return out;
}

function nameKey(name: HumanName): string {
  const fold = (s: string | undefined) => (s ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().trim();
  return `${fold(name.family)}|${(name.given ?? []).map(fold).join(' ')}`;
}

function union<T>(a: T[] | undefined, b: T[] | undefined, key: (item: T) => string): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  for (const item of [...(a ?? []), ...(b ?? [])]) {
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(item);
  }
  return out;
}

function digitsOrValue(value: string | undefined): string {
  const digits = (value ?? '').replace(/\D/g, '');
  return digits.length >= 7 ? digits.slice(-10) : (value ?? '').toLowerCase();
}
