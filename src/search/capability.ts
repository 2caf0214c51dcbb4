// What the search compiler supports, for the CapabilityStatement: exactly the parameters
// params.ts registers (R4 SearchParameters of the type that the compiler implements; composite
// and special parameters are not), plus the include/revinclude targets.
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { paramDefs, type ParamType } from './params.js';
import { MODIFIERS, isIdentifierParam } from './parse.js';

export interface SupportedSearchParam {
  name: string;
  type: ParamType;
  definition: string;
  documentation: string;
}

const BASE_URLS: Record<string, string> = {
  _id: 'http://hl7.org/fhir/SearchParameter/Resource-id',
  _lastUpdated: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated',
  _profile: 'http://hl7.org/fhir/SearchParameter/Resource-profile',
  _security: 'http://hl7.org/fhir/SearchParameter/Resource-security',
  _source: 'http://hl7.org/fhir/SearchParameter/Resource-source',
  _tag: 'http://hl7.org/fhir/SearchParameter/Resource-tag',
};

export function supportedSearchParams(resourceType: string): SupportedSearchParam[] {
  const defs = paramDefs(resourceType);
  if (!defs) return [];
  const out: SupportedSearchParam[] = [];
  for (const def of defs.values()) {
    const modifiers = supportedModifiers(resourceType, def.code);
    const extra =
      def.type === 'date' || def.type === 'number' || def.type === 'quantity'
        ? ' Prefixes: eq ne gt lt ge le sa eb ap.'
        : def.type === 'reference' && !def.docField
          ? ' Chaining (param.child) supported.'
          : '';
    const description = describe(resourceType, def.sp.description ?? '', def.code);
    out.push({
      name: def.code,
      type: def.type,
      definition: def.sp.url ?? BASE_URLS[def.code] ?? `http://hl7.org/fhir/SearchParameter/${resourceType}-${def.code}`,
      documentation: `${description || `${resourceType} ${def.code}`}${description.endsWith('.') ? '' : '.'} Modifiers: ${modifiers.map((m) => `:${m}`).join(' ')}.${extra}`,
    });
  }
  return out;
}

const BASE_DOCS: Record<string, string> = {
  _id: 'Logical id of this artifact',
  _lastUpdated: 'When the resource version last changed',
  _profile: 'Profiles this resource claims to conform to',
  _security: 'Security Labels applied to this resource',
  _source: 'Identifies where the resource comes from',
  _tag: 'Tags applied to this resource',
};

/** The parameter's description for this type (shared R4 parameters list one line per type). */
function describe(resourceType: string, text: string, code = ''): string {
  if (BASE_DOCS[code]) return BASE_DOCS[code];
  if (!text.startsWith('Multiple Resources')) return text.split(/\r?\n/)[0].trim();
  const line = text.split(/\r?\n/).find((l) => l.includes(`[${resourceType}](`));
  return line ? line.replace(/^\*\s*\[[^\]]+\]\([^)]*\):\s*/, '').trim() : '';
}

/** Modifiers accepted for one parameter (`[type]` stands for `:Patient` etc. on references). */
export function supportedModifiers(resourceType: string, code: string): string[] {
  const def = paramDefs(resourceType)?.get(code);
  if (!def) return [];
  if (def.docField === '_id') return ['not', 'missing'];
  if (def.docField) return ['missing'];
  const out = MODIFIERS[def.type].filter((m) => m !== 'of-type' || isIdentifierParam(def));
  if (def.type === 'reference') out.push('[type]');
  return out;
}

/** `_include` values supported for a type (every reference parameter, and `*`). */
export function supportedIncludes(resourceType: string): string[] {
  const defs = paramDefs(resourceType);
  if (!defs) return [];
  const out = [...defs.values()].filter((d) => d.type === 'reference').map((d) => `${resourceType}:${d.code}`);
  return [...out, '*'];
}

/** `_revinclude` values supported for a type: reference parameters of stored types that can point at it. */
export function supportedRevIncludes(resourceType: string): string[] {
  const out: string[] = [];
  for (const source of SUPPORTED_TYPES) {
    for (const d of paramDefs(source)?.values() ?? []) {
      if (d.type === 'reference' && (d.targets.length === 0 || d.targets.includes(resourceType))) out.push(`${source}:${d.code}`);
    }
  }
  return out;
}
