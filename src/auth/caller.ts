// Who is calling: the type lives in the neutral src/fhir/request.ts so every layer can name it.
export type { Caller } from '../fhir/request.js';
