// The value sets `credentialValueSet` of $health-cards-issue names (SMART Health Cards and Links IG:
// "Restricts the request by FHIR content such as any standardized vaccine code for mpox"; for
// Immunizations `vaccineCode` is evaluated). The code lists ship in value-sets.json, copied from the
// SMART Health Cards terminology (terminology.smarthealth.cards, github.com/dvci/shc-terminology)
// with the file and commit of each: the server never calls out to expand a value set.
import { readFileSync } from 'node:fs';
import type { Coding, Immunization } from '@medplum/fhirtypes';
import { systemKind } from '../terminology/code-sets.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
const ICD11 = 'http://id.who.int/icd11/mms';
/** The vaccination IG writes ICD-11 MMS as this URI; the terminology value sets as ICD11. */
const ICD11_RELEASE = 'http://id.who.int/icd/release/11/mms';

interface ValueSetFile {
  notExpandable: Record<string, string>;
  valueSets: Array<{ url: string; version: string; title: string; source: string; cardTypes: string[]; include: Record<string, string[]> }>;
}

export interface CardValueSet {
  url: string;
  title: string;
  /** `vc.type` entries a card restricted to this set carries (`https://smarthealth.cards#covid19` for the COVID sets). */
  cardTypes: string[];
  /** Whether one of the dose's vaccine codes is in the set. */
  hasVaccine(imm: Immunization): boolean;
}

/** CVX codes are numbers written with or without a leading zero ("08" and "8" are Hep B). */
function codeKey(system: string, code: string): string {
  if (system === ICD11_RELEASE) return `${ICD11}|${code}`;
  // CVX also by its HL7 v2 OID, as some senders write it.
  if (systemKind(system) === 'cvx') return `${CVX}|${code.replace(/^0+(?=\d)/, '')}`;
  return `${system}|${code}`;
}

function load(): { sets: Map<string, CardValueSet>; notExpandable: Map<string, string> } {
  const file = JSON.parse(readFileSync(new URL('./value-sets.json', import.meta.url), 'utf8')) as ValueSetFile;
  const sets = new Map<string, CardValueSet>();
  for (const vs of file.valueSets) {
    const codes = new Set(Object.entries(vs.include).flatMap(([system, list]) => list.map((code) => codeKey(system, code))));
    const hasCoding = (c: Coding): boolean => !!c.system && !!c.code && codes.has(codeKey(c.system, c.code));
    sets.set(vs.url, {
      url: vs.url,
      title: vs.title,
      cardTypes: vs.cardTypes,
      hasVaccine: (imm) => !!imm.vaccineCode?.coding?.some(hasCoding),
    });
  }
  return { sets, notExpandable: new Map(Object.entries(file.notExpandable)) };
}

const loaded = load();

const TERMINOLOGY = 'https://terminology.smarthealth.cards/ValueSet/';
/** The HL7 SMART Health Cards and Links IG publishes the same value sets under its own canonical. */
const HL7_IG = 'http://hl7.org/fhir/uv/smart-health-cards-and-links/ValueSet/';

function canonical(url: string): string {
  return url.startsWith(HL7_IG) ? TERMINOLOGY + url.slice(HL7_IG.length) : url;
}

/** The URLs `credentialValueSet` accepts. */
export const KNOWN_VALUE_SETS: readonly string[] = [...loaded.sets.keys()];

/**
 * The value set a `credentialValueSet` URL names (a `|version` suffix is ignored: one version of
 * each is shipped), or why it cannot be applied.
 */
export function findValueSet(url: string): CardValueSet | { problem: string } {
  const bare = canonical(url.split('|')[0]);
  const found = loaded.sets.get(bare);
  if (found) return found;
  const why = loaded.notExpandable.get(bare);
  if (why) return { problem: `credentialValueSet ${bare} is not supported: it is ${why}` };
  return { problem: `credentialValueSet ${url} is not a value set this server knows; it applies ${KNOWN_VALUE_SETS.join(', ')}` };
}
