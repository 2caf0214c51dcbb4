// The `parameter` list of a Parameters body given to the health-card operations. A body whose
// `parameter` is not a list, or holds something that is not a parameter object, is a 400: read as
// "no parameters" it would do the operation's default instead ($health-link-revoke with no
// parameter revokes every link of the patient), and read as a list it crashed into a 500.
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcome.js';

export function parameterList(params: Parameters, operation: string): ParametersParameter[] {
  const list: unknown = params.parameter;
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    throw badRequest(`${operation}: Parameters.parameter must be a list of parameters`, { expression: ['Parameters.parameter'] });
  }
  const notParameter = list.findIndex((p) => p === null || typeof p !== 'object' || Array.isArray(p));
  if (notParameter !== -1) {
    throw badRequest(`${operation}: Parameters.parameter[${notParameter}] is not a parameter (an object with a name and a value)`, {
      expression: [`Parameters.parameter[${notParameter}]`],
    });
  }
  return list as ParametersParameter[];
}
