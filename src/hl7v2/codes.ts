// HL7 v2 coding-system names (CE/CWE component 3 and 6) ↔ FHIR code system URIs, both ways, so a
// coded value read from a message is written back with the name it came with.
import type { CodeableConcept, Coding } from '@medplum/fhirtypes';

export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const NDC = 'http://hl7.org/fhir/sid/ndc';
export const MVX = 'http://hl7.org/fhir/sid/mvx';
export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';
export const CDCREC = 'urn:oid:2.16.840.1.113883.6.238';
export const CDCPHINVS = 'urn:oid:2.16.840.1.114222.4.5.274';
export const NCIT = 'http://ncithesaurus-stage.nci.nih.gov';
/** CDC CDSi observation codes (the forecast's supporting data); named CDSI in a message's CE. */
export const CDSI = 'https://www.cdc.gov/vaccines/programs/iis/cdsi.html';
/** Tables without a published FHIR URI (NIP001, NIP002, state tables…): one URI per table name. */
export const TABLE_BASE = 'https://iis-fhir-server.org/fhir/CodeSystem/hl7v2-table-';

const BY_NAME: Record<string, string> = {
  CVX,
  NDC,
  MVX,
  LN: LOINC,
  SCT: SNOMED,
  UCUM,
  CDCREC,
  CDCPHINVS,
  NCIT,
  CDSI,
};
const BY_URI = new Map(Object.entries(BY_NAME).map(([name, uri]) => [uri, name]));

/**
 * A coding system's URI by its HL7 v2 name (systemNamed), remembered per name as written: a VXU
 * names a handful of systems (CVX, HL70163, NCIT, NIP001…) in a dozen coded fields. Bounded.
 */
const systemsByName = new Map<string, string | undefined>();

export function systemFor(name: string): string | undefined {
  const known = systemsByName.get(name);
  if (known !== undefined || systemsByName.has(name)) return known;
  const uri = systemNamed(name);
  if (systemsByName.size >= 1024) systemsByName.clear();
  systemsByName.set(name, uri);
  return uri;
}

/** systemFor without the memory (the reference). */
export function systemNamed(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  if (!upper) return undefined;
  if (BY_NAME[upper]) return BY_NAME[upper];
  const table = /^HL7(\d{4})$/.exec(upper);
  if (table) return `http://terminology.hl7.org/CodeSystem/v2-${table[1]}`;
  return `${TABLE_BASE}${encodeURIComponent(name.trim())}`;
}

export function nameFor(system: string | undefined): string | undefined {
  if (!system) return undefined;
  const known = BY_URI.get(system);
  if (known) return known;
  const table = /^http:\/\/terminology\.hl7\.org\/CodeSystem\/v2-(\d{4})$/.exec(system);
  if (table) return `HL7${table[1]}`;
  if (system.startsWith(TABLE_BASE)) return decodeURIComponent(system.slice(TABLE_BASE.length));
  return undefined;
}

/** CE/CWE components (identifier, text, system, alternate identifier, text, system) → CodeableConcept. */
export function conceptFrom(ce: string[]): CodeableConcept | undefined {
  const coding: Coding[] = [];
  const push = (code: string | undefined, display: string | undefined, system: string | undefined) => {
    if (!code) return;
    const c: Coding = { code };
    const uri = systemFor(system ?? '');
    if (uri) c.system = uri;
    if (display) c.display = display;
    coding.push(c);
  };
  push(ce[0], ce[1], ce[2]);
  push(ce[3], ce[4], ce[5]);
  const text = ce[1] || undefined;
  if (coding.length === 0) return text ? { text } : undefined;
  return text && coding[0].display !== text ? { coding, text } : { coding };
}

/** CodeableConcept → CE components (first two codings, or the text alone). */
export function ceFrom(concept: CodeableConcept | undefined, preferSystem?: string): string[] | undefined {
  if (!concept) return undefined;
  const codings = [...(concept.coding ?? [])];
  if (preferSystem) codings.sort((a, b) => Number(b.system === preferSystem) - Number(a.system === preferSystem));
  const parts: string[] = [];
  for (const c of codings.slice(0, 2)) parts.push(c.code ?? '', c.display ?? '', nameFor(c.system) ?? '');
  if (parts.length === 0) return concept.text ? ['', concept.text] : undefined;
  return parts;
}

export function codingOf(concept: CodeableConcept | undefined, system: string): Coding | undefined {
  return concept?.coding?.find((c) => c.system === system);
}
