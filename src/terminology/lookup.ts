// CodeSystem/$lookup (type and instance level, GET or POST): the display and properties of a code
// in a stored CodeSystem (CVX: status, last-updated, vaccine groups; MVX: status), or of an NDC
// (from the NDC → CVX maps: its CVX, MVX, start and end dates), in any 10/11-digit form.
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse } from '../fhir/request.js';

/** A terminology operation: answers from the code sets alone (a Handler that needs no store). */
type CodeSetHandler = (req: FhirRequest) => Promise<FhirResponse>;
import { normaliseCvx, systemKind, type CodeSets } from './code-sets.js';
import { OperationInput, requireType } from './operation-input.js';

/** The handler, answering from the server's code sets (kept current by TerminologySync). */
export function lookupOperation(codeSets: CodeSets): CodeSetHandler {
  return async (req: FhirRequest): Promise<FhirResponse> => {
  requireType(req, ['CodeSystem'], 'lookup');
  const input = new OperationInput(req, 'lookup');
  const coding = input.coding('coding');
  const code = input.string('code') ?? coding?.code;
  let system = input.string('system') ?? coding?.system;
  if (req.id !== undefined) {
    const cs = codeSets.codeSystemById(req.id);
    if (!cs) throw notFound(`CodeSystem/${req.id} is not known to this server`);
    system = cs.resource.url;
  }
  if (!code) throw badRequest('$lookup needs a code (code + system, or coding)', { expression: 'code' });
  if (!system) throw badRequest('$lookup needs the system of the code', { expression: 'system' });
  const wanted = new Set(input.strings('property'));
  const keep = (name: string) => wanted.size === 0 || wanted.has(name);

  if (systemKind(system) === 'ndc') {
    const info = codeSets.ndc(code);
    if (!info) throw notFound(`NDC "${code}" is not a vaccine NDC in the server's code sets`, { expression: 'code' });
    const parameter: ParametersParameter[] = [{ name: 'name', valueString: 'NDC' }];
    if (info.display) parameter.push({ name: 'display', valueString: info.display });
    const props: Array<[string, ParametersParameter]> = [
      ['ndc11', { name: 'value', valueCode: info.hyphenated }],
      ...info.kinds.map((k): [string, ParametersParameter] => ['packageKind', { name: 'value', valueCode: k }]),
      ...info.cvx.map((c): [string, ParametersParameter] => [
        'cvx',
        { name: 'value', valueCoding: { system: 'http://hl7.org/fhir/sid/cvx', code: c, ...(codeSets.cvx(c) ? { display: codeSets.cvx(c)!.display } : {}) } },
      ]),
      ...info.mvx.map((m): [string, ParametersParameter] => ['mvx', { name: 'value', valueCode: m }]),
    ];
    if (info.startDate) props.push(['startDate', { name: 'value', valueDateTime: info.startDate }]);
    if (info.endDate) props.push(['endDate', { name: 'value', valueDateTime: info.endDate }]);
    for (const [name, value] of props) if (keep(name)) parameter.push({ name: 'property', part: [{ name: 'code', valueCode: name }, value] });
    return ok({ resourceType: 'Parameters', parameter });
  }

  const cs = codeSets.codeSystem(system);
  if (!cs) throw notFound(`The code system ${system} is not known to this server`, { expression: 'system' });
  const concept = cs.concepts.get(systemKind(system) === 'cvx' ? normaliseCvx(code) : code);
  if (!concept) throw notFound(`"${code}" is not a code of ${system}`, { expression: 'code' });
  const parameter: ParametersParameter[] = [{ name: 'name', valueString: cs.resource.name ?? cs.resource.title ?? system }];
  if (cs.resource.version) parameter.push({ name: 'version', valueString: cs.resource.version });
  if (concept.display) parameter.push({ name: 'display', valueString: concept.display });
  if (concept.definition && keep('definition')) {
    parameter.push({ name: 'property', part: [{ name: 'code', valueCode: 'definition' }, { name: 'value', valueString: concept.definition }] });
  }
  for (const d of concept.designation ?? []) {
    parameter.push({
      name: 'designation',
      part: [
        ...(d.language ? [{ name: 'language', valueCode: d.language }] : []),
        ...(d.use ? [{ name: 'use', valueCoding: d.use }] : []),
        { name: 'value', valueString: d.value },
      ],
    });
  }
  for (const p of concept.property ?? []) {
    if (!keep(p.code)) continue;
    const { code: propCode, ...value } = p;
    const valueKey = Object.keys(value).find((k) => k.startsWith('value'));
    if (!valueKey) continue;
    parameter.push({ name: 'property', part: [{ name: 'code', valueCode: propCode }, { name: 'value', [valueKey]: (value as Record<string, unknown>)[valueKey] }] });
  }
  return ok({ resourceType: 'Parameters', parameter });
  };
}

function ok(body: Parameters): FhirResponse {
  return { status: 200, body };
}
