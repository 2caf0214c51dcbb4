// Patient/[id]/$everything: the patient and everything in its compartment that this server holds
// (Immunizations, Consents, Conditions), as a searchset Bundle. Reading the patient through the caller-scoped
// store refuses a hidden patient (403); its filter also applies to every compartment query.
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcome.js';
import { readCurrent } from '../interactions/read.js';
import { mayReach, reachChecker } from '../interactions/reach-scopes.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import type { Filter } from '../store/store.js';

const COMPARTMENT_TYPES = ['Immunization', 'Consent', 'Condition'] as const;
const MAX_ENTRIES = 10_000;

export async function everythingOperation(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  if (req.id === undefined) throw badRequest('$everything needs a patient: GET /fhir/Patient/[id]/$everything');
  const { since, types, typesListed } = readParams(req);
  // The scope check passed the Patient; the compartment's other types need the token's rights too:
  // a `_type` that names one the token cannot read is refused, and by default they are left out.
  const compartment = COMPARTMENT_TYPES.filter((type) => types.has(type));
  if (typesListed) reachChecker(ctx)(new Map(compartment.map((type) => [type, new Set(['r', 's'] as const)])));
  for (const type of compartment) if (!mayReach(ctx, type, ['r', 's'])) types.delete(type);
  const patient = await readCurrent(ctx, 'Patient', req.id);
  const entry: BundleEntry[] = [];
  if (types.has('Patient') && (!since || patient.lastUpdated >= since)) {
    entry.push({ fullUrl: `${ctx.baseUrl}/Patient/${patient.id}`, resource: patient.resource, search: { mode: 'match' } });
  }
  for (const type of COMPARTMENT_TYPES) {
    if (!types.has(type)) continue;
    const clauses: Filter[] = [{ 's.patient': `Patient/${patient.id}` }];
    if (since) clauses.push({ lastUpdated: { $gte: since } });
    const records = await ctx.store.search(type, {
      filter: { $and: clauses },
      sort: [{ field: '_id', direction: 1 }],
      limit: MAX_ENTRIES - entry.length,
    });
    for (const r of records) entry.push({ fullUrl: `${ctx.baseUrl}/${type}/${r.id}`, resource: r.resource, search: { mode: 'include' } });
  }
  // A searchset names the search it answers (self link); with nothing found it has no entry at all
  // (FHIR JSON has no empty arrays: `entry: []` was refused by validators).
  const query = req.method === 'GET' && req.query.length > 0 ? `?${new URLSearchParams(req.query).toString()}` : '';
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: entry.length,
    link: [{ relation: 'self', url: `${ctx.baseUrl}/Patient/${patient.id}/$everything${query}` }],
    ...(entry.length > 0 ? { entry } : {}),
  };
  return { status: 200, body: bundle };
}

function readParams(req: FhirRequest): { since?: string; types: Set<string>; typesListed: boolean } {
  let since: string | undefined;
  let typesListed = false;
  let types = new Set<string>(['Patient', ...COMPARTMENT_TYPES]);
  for (const [name, value] of req.query) {
    if (name === '_since') {
      const time = Date.parse(value);
      if (Number.isNaN(time) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) throw badRequest(`_since must be an instant, got "${value}"`, { expression: '_since' });
      since = new Date(time).toISOString();
    } else if (name === '_type') {
      const listed = value.split(',').map((t) => t.trim());
      const unknown = listed.filter((t) => t !== 'Patient' && !(COMPARTMENT_TYPES as readonly string[]).includes(t));
      if (unknown.length > 0) throw badRequest(`_type lists types outside the patient compartment: ${unknown.join(', ')}`, { expression: '_type' });
      types = new Set(listed);
      typesListed = true;
    } else if (req.prefer.handling !== 'lenient') {
      throw badRequest(`Unknown $everything parameter "${name}"`, { expression: name });
    }
  }
  return { since, types, typesListed };
}
