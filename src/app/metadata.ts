// GET /fhir/metadata: the CapabilityStatement in capability-statement.json (generated from the
// code by `npm run capability`; test/capability.test.ts proves the file matches the code).
import { readFileSync } from 'node:fs';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { absoluteSecurityUrls } from './capability.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';

const FILE = new URL('../../capability-statement.json', import.meta.url);
let cached: CapabilityStatement | undefined;

export function loadCapabilityStatement(): CapabilityStatement {
  cached ??= JSON.parse(readFileSync(FILE, 'utf8')) as CapabilityStatement;
  return cached;
}

export async function capabilities(_req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  const statement = absoluteSecurityUrls(loadCapabilityStatement(), ctx.config.publicBaseUrl);
  return {
    status: 200,
    body: { ...statement, implementation: { ...statement.implementation, description: statement.implementation?.description ?? 'IIS FHIR server', url: ctx.baseUrl } },
  };
}
