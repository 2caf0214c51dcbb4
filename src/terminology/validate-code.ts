// ValueSet/$validate-code and CodeSystem/$validate-code (type and instance level, GET or POST):
// is a code (code + system, coding, or any coding of a codeableConcept) in the value set / code
// system? NDCs are recognised in 10- and 11-digit forms. A display that differs from the code
// set's is reported in `message` without failing the code.
import type { Coding, Parameters, ParametersParameter, ValueSet } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse } from '../fhir/request.js';

/** A terminology operation: answers from the code sets alone (a Handler that needs no store). */
type CodeSetHandler = (req: FhirRequest) => Promise<FhirResponse>;
import type { CodeCheck, CodeSets } from './code-sets.js';
import { OperationInput, requireType } from './operation-input.js';

/** The handler, answering from the server's code sets (kept current by TerminologySync). */
export function validateCodeOperation(codeSets: CodeSets): CodeSetHandler {
  return async (req: FhirRequest): Promise<FhirResponse> => {
  const type = requireType(req, ['ValueSet', 'CodeSystem'], 'validate-code');
  const input = new OperationInput(req, 'validate-code');
  const codings = input.codings();
  if (codings.length === 0 || codings.some((c) => !c.code)) {
    throw badRequest('$validate-code needs a code (code + system, coding, or codeableConcept)', { expression: 'code' });
  }

  let check: (coding: Coding) => CodeCheck;
  if (type === 'ValueSet') {
    const vs = findValueSet(req, input, codeSets);
    check = (c) => codeSets.checkInValueSet(vs, c.system, c.code!);
  } else {
    let url = input.string('url') ?? input.string('system');
    if (req.id !== undefined) {
      const cs = codeSets.codeSystemById(req.id);
      if (!cs) throw notFound(`CodeSystem/${req.id} is not known to this server`);
      url = cs.resource.url;
    }
    const system = url;
    check = (c) => {
      const s = system ?? c.system;
      if (!s) throw badRequest('CodeSystem/$validate-code needs the code system (url or system)', { expression: 'url' });
      if (c.system && system && c.system !== system) return { result: false, message: `${c.system} is not the code system ${system}` };
      return codeSets.checkCode(s, c.code!);
    };
  }

  const results = codings.map((c) => ({ coding: c, check: check(c) }));
  const hit = results.find((r) => r.check.result);
  const parameter: ParametersParameter[] = [{ name: 'result', valueBoolean: hit !== undefined }];
  if (hit) {
    const display = hit.check.display;
    if (display) parameter.push({ name: 'display', valueString: display });
    const given = hit.coding.display;
    if (given && display && given.trim().toLowerCase() !== display.trim().toLowerCase()) {
      parameter.push({ name: 'message', valueString: `The display "${given}" differs from "${display}" for ${hit.coding.code}` });
    }
  } else {
    const messages = results.map((r) => r.check.message).filter((m): m is string => !!m);
    parameter.push({ name: 'message', valueString: messages.join('; ') || 'The code is not valid' });
  }
  const body: Parameters = { resourceType: 'Parameters', parameter };
  return { status: 200, body };
  };
}

function findValueSet(req: FhirRequest, input: OperationInput, codeSets: CodeSets): ValueSet {
  if (req.id !== undefined) {
    const vs = codeSets.valueSetById(req.id);
    if (!vs) throw notFound(`ValueSet/${req.id} is not known to this server`);
    return vs;
  }
  const inline = input.resource('valueSet');
  if (inline) {
    if (inline.resourceType !== 'ValueSet') throw badRequest('"valueSet" must be a ValueSet', { expression: 'valueSet' });
    return inline;
  }
  const url = input.string('url');
  if (!url) throw badRequest('ValueSet/$validate-code needs the value set: url, valueSet, or ValueSet/[id]/$validate-code', { expression: 'url' });
  const vs = codeSets.valueSet(url);
  if (!vs) throw notFound(`The value set ${url} is not known to this server`, { expression: 'url' });
  return vs;
}
