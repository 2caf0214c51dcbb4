// POST /fhir/Patient/{id}/$health-link-revoke: deactivates SMART Health Links of a patient, by the
// callers who may make them ($health-link-create's rights: r on Patient and Immunization, a patient/
// token for its own patient, data sharing as for a read; the pipeline audits it). With `link`
// (valueString: the handle $health-link-create answered, the `shlink:/…` URI or its manifest URL) that one
// link; without, every link of the patient. A deactivated link's manifest answers 404 at once, its
// outstanding single-use file URLs go with it. Answers a Parameters with `revoked` (how many).
// Revoking the patient's health cards ($health-cards-revoke, the CLI) and merging the patient away
// ($merge) deactivate every link as well (HealthCardIssuer.revokePatient).
import type { Parameters } from '@medplum/fhirtypes';
import { badRequest, FhirError, makeIssue, notFound, outcome } from '../fhir/outcome.js';
import { readCurrent } from '../interactions/read.js';
import type { FhirRequest, FhirResponse, Handler, HandlerContext } from '../interactions/types.js';
import type { HealthCardIssuer } from './issuer.js';
import { decodeShlink, linkHandle, linkIdOf } from './shlink.js';
import { parameterList } from './parameters.js';

/** A handle is the base64url SHA-256 of a link id: 43 characters. */
const HANDLE = /^[A-Za-z0-9_-]{43}$/;

export function healthLinkRevokeOperation(issuer: HealthCardIssuer): Handler {
  return (req, ctx) => revokeLinks(req, ctx, issuer);
}

async function revokeLinks(req: FhirRequest, ctx: HandlerContext, issuer: HealthCardIssuer): Promise<FhirResponse> {
  if (req.resourceType !== 'Patient' || req.id === undefined) {
    throw badRequest('$health-link-revoke is invoked on a patient: POST /fhir/Patient/[id]/$health-link-revoke');
  }
  const handle = readLink(req.body, req.prefer.handling === 'lenient');
  // Read as the caller: the patient/ compartment and data sharing decide who may, as for creating.
  await readCurrent(ctx, 'Patient', req.id);
  let revoked: number;
  if (handle === undefined) {
    revoked = await issuer.links.revokePatient(req.id);
  } else {
    if (!(await issuer.links.revoke(handle, req.id))) throw notFound(`Patient/${req.id} has no active SMART Health Link ${handle}`);
    revoked = 1;
  }
  const body: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'revoked', valueInteger: revoked }] };
  return { status: 200, body };
}

/** The handle of the link to revoke (from a handle or a shlink URI), or undefined for all of them. */
function readLink(body: unknown, lenient: boolean): string | undefined {
  if (body === undefined) return undefined;
  const params = body as Parameters;
  if (params === null || typeof params !== 'object' || params.resourceType !== 'Parameters') {
    throw badRequest('$health-link-revoke expects a Parameters resource (with an optional "link") or no body');
  }
  let handle: string | undefined;
  const problems: string[] = [];
  parameterList(params, '$health-link-revoke').forEach((p, i) => {
    const where = `Parameters.parameter[${i}]`;
    if (p?.name !== 'link') {
      if (!lenient) problems.push(`${where}: unknown parameter "${String(p?.name)}" (only "link")`);
      return;
    }
    const value = p.valueString ?? p.valueUri;
    // The shlink:/ URI (or a viewer URL around it), or the manifest URL itself.
    const id = typeof value === 'string' ? linkIdOf(decodeShlink(value)?.url ?? (/^https?:\/\//.test(value) ? value : '')) : undefined;
    const named = id !== undefined ? linkHandle(id) : typeof value === 'string' && HANDLE.test(value) ? value : undefined;
    if (named === undefined) problems.push(`${where}: link needs valueString: the link's handle (as $health-link-create answered), its shlink:/ URI or its manifest URL`);
    else if (handle !== undefined) problems.push(`${where}: link is given more than once`);
    else handle = named;
  });
  if (problems.length > 0) {
    throw new FhirError(400, outcome(problems.map((text) => makeIssue('error', 'invalid', text, { expression: 'Parameters.parameter' }))));
  }
  return handle;
}
