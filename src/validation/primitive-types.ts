// The JavaScript type of each FHIR primitive type's JSON value (as @medplum/core's fhirTypeToJsType):
// one table for our structural walk (validate-resource.ts) and the fast clean check (medplum-clean.ts).
export type JsType = 'string' | 'number' | 'boolean';

export const PRIMITIVE_JS_TYPES: Record<string, JsType> = {
  base64Binary: 'string',
  boolean: 'boolean',
  canonical: 'string',
  code: 'string',
  date: 'string',
  dateTime: 'string',
  decimal: 'number',
  id: 'string',
  instant: 'string',
  integer: 'number',
  integer64: 'string',
  markdown: 'string',
  oid: 'string',
  positiveInt: 'number',
  string: 'string',
  time: 'string',
  unsignedInt: 'number',
  uri: 'string',
  url: 'string',
  uuid: 'string',
  xhtml: 'string',
  'http://hl7.org/fhirpath/System.String': 'string',
};
