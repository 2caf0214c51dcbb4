// Patient/[id]/$everything: the patient and everything in its compartment that this server holds
// (Immunizations, Consents, Conditions), as a searchset Bundle. Reading the patient through the caller-scoped
// store refuses a hidden patient (403); its filter also applies to every compartment query.
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcome.js';
import { readCurrent } from '../interactions/read.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import type { Filter } from '../store/store.js';

const COMPARTMENT_TYPES = ['Immunization', 'Consent', 'Condition'] as const;
const MAX_ENTRIES = 10_000;

export async function everythingOperation(req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> {
  if (req.id === undefined) throw badRequest('$everything needs a patient: GET /fhir/Patient/[id]/$everything');
  const { since, types } = readParams(req);
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
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
  return { status: 200, body: bundle };
}

function readParams(req: FhirRequest): { since?: string; types: Set<string> } {
  let since: string | undefined;
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
    } else if (req.prefer.handling !== 'lenient') {
      throw badRequest(`Unknown $everything parameter "${name}"`, { expression: name });
    }
  }
  return { since, types };
}
