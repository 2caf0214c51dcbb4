// ConceptMap/$translate (type and instance level, GET or POST): NDC → CVX (and any stored map),
// with `reverse=true` for CVX → NDCs. NDC source codes match in any 10/11-digit form.
import type { Coding, ConceptMap, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse } from '../fhir/request.js';

/** A terminology operation: answers from the code sets alone (a Handler that needs no store). */
type CodeSetHandler = (req: FhirRequest) => Promise<FhirResponse>;
import { normaliseCvx, systemKind, type CodeSets } from './code-sets.js';
import { ndcCandidates } from './ndc.js';
import { OperationInput, requireType } from './operation-input.js';

interface Match {
  equivalence: string;
  concept: Coding;
  source: string;
}

/** The handler, answering from the server's code sets (kept current by TerminologySync). */
export function translateOperation(codeSets: CodeSets): CodeSetHandler {
  return async (req: FhirRequest): Promise<FhirResponse> => {
  requireType(req, ['ConceptMap'], 'translate');
  const input = new OperationInput(req, 'translate');
  const [coding] = input.codings();
  if (!coding?.code) throw badRequest('$translate needs a code (code + system, coding, or codeableConcept)', { expression: 'code' });
  const reverse = input.boolean('reverse');
  const targetSystem = input.string('targetsystem');

  let maps: readonly ConceptMap[] = codeSets.conceptMaps();
  const url = input.string('url');
  if (req.id !== undefined) {
    maps = maps.filter((m) => m.id === req.id);
    if (maps.length === 0) throw notFound(`ConceptMap/${req.id} is not known to this server`);
  } else if (url) {
    maps = maps.filter((m) => m.url === url.split('|')[0]);
    if (maps.length === 0) throw notFound(`The concept map ${url} is not known to this server`, { expression: 'url' });
  }

  const matches: Match[] = [];
  const seen = new Set<string>();
  for (const map of maps) {
    for (const group of map.group ?? []) {
      const from = reverse ? (group.target ?? map.targetUri) : (group.source ?? map.sourceUri);
      const to = reverse ? (group.source ?? map.sourceUri) : (group.target ?? map.targetUri);
      if (coding.system && !sameSystem(coding.system, from)) continue;
      if (targetSystem && !sameSystem(targetSystem, to)) continue;
      const same = codeMatcher(from, coding.code);
      for (const el of group.element ?? []) {
        for (const t of el.target ?? []) {
          const source = reverse ? t.code : el.code;
          if (!source || !same(source)) continue;
          const concept = reverse ? { code: el.code, display: el.display } : { code: t.code, display: t.display };
          const key = `${to}|${concept.code}`;
          if (!concept.code || seen.has(key)) continue;
          seen.add(key);
          matches.push({
            equivalence: t.equivalence ?? 'equivalent',
            concept: { ...(to ? { system: to } : {}), code: concept.code, ...(concept.display ? { display: concept.display } : {}) },
            source: map.url ?? `ConceptMap/${map.id}`,
          });
        }
      }
    }
  }
  const parameter: ParametersParameter[] = [{ name: 'result', valueBoolean: matches.length > 0 }];
  if (matches.length === 0) {
    parameter.push({ name: 'message', valueString: `No mapping found for ${coding.system ? `${coding.system}|` : ''}${coding.code}` });
  }
  for (const m of matches) {
    parameter.push({
      name: 'match',
      part: [
        { name: 'equivalence', valueCode: m.equivalence },
        { name: 'concept', valueCoding: m.concept },
        { name: 'source', valueUri: m.source },
      ],
    });
  }
  const body: Parameters = { resourceType: 'Parameters', parameter };
  return { status: 200, body };
  };
}

function sameSystem(a: string, b: string | undefined): boolean {
  if (!b) return false;
  const ka = systemKind(a);
  return ka !== undefined ? ka === systemKind(b) : a === b;
}

/** Code equality in a system: NDC by 11-digit form, CVX with 1–9 zero-padded, else exact. */
function codeMatcher(system: string | undefined, code: string): (other: string) => boolean {
  const kind = systemKind(system);
  if (kind === 'ndc') {
    const wanted = new Set(ndcCandidates(code));
    return (other) => ndcCandidates(other).some((c) => wanted.has(c));
  }
  if (kind === 'cvx') {
    const wanted = normaliseCvx(code);
    return (other) => normaliseCvx(other) === wanted;
  }
  return (other) => other === code;
}
