// What an operation answers must be what its OperationDefinition (profiles/) says it answers: every
// parameter (and part) of the answer is an out parameter of the definition, each given no more
// often than its max, and every required out parameter is there.
import { readFileSync } from 'node:fs';
import type { OperationDefinition, OperationDefinitionParameter, Parameters, ParametersParameter } from '@medplum/fhirtypes';

export function definitionOf(id: string): OperationDefinition {
  return JSON.parse(readFileSync(new URL(`../../profiles/OperationDefinition-${id}.json`, import.meta.url), 'utf8')) as OperationDefinition;
}

/** The ways the answer departs from the definition's out parameters (empty when it agrees). */
export function outParameterProblems(answer: Parameters, id: string): string[] {
  const outs = (definitionOf(id).parameter ?? []).filter((p) => p.use === 'out');
  return problemsAt(answer.parameter ?? [], outs, id);
}

function problemsAt(given: ParametersParameter[], defined: OperationDefinitionParameter[], where: string): string[] {
  const problems: string[] = [];
  for (const p of given) if (!defined.some((d) => d.name === p.name)) problems.push(`${where}: "${p.name}" is not an out parameter of the definition`);
  for (const d of defined) {
    const found = given.filter((p) => p.name === d.name);
    if (found.length < (d.min ?? 0)) problems.push(`${where}: "${d.name}" is required (min ${d.min}) but absent`);
    if (d.max !== '*' && found.length > Number(d.max)) problems.push(`${where}: "${d.name}" given ${found.length} times, max ${d.max}`);
    if (d.part) for (const f of found) problems.push(...problemsAt(f.part ?? [], d.part, `${where}.${d.name}`));
  }
  return problems;
}
