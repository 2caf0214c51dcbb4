import { indexStructureDefinitionBundle, tryGetDataType, type InternalTypeSchema } from '@medplum/core';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module of the build (scripts/build-server.mjs), no types
import { TRIMMED_BUNDLES, trimmedBundle } from '../../scripts/trim-definitions.mjs';
import { loadDefinitions } from './definitions.js';

/** A schema as plain JSON (parent links by name, sets as arrays) to compare two indexings. */
function snapshot(names: string[]): string {
  const out: Record<string, InternalTypeSchema | undefined> = {};
  for (const name of names) out[name] = tryGetDataType(name);
  return JSON.stringify(out, (k, v: unknown) => (k === 'parentType' ? (v as { name?: string } | undefined)?.name : v instanceof Set ? [...v] : v));
}

describe('trimmed R4 definitions (read by the compiled server)', () => {
  it('index to the same schemas as the full bundles, for every type', () => {
    loadDefinitions(); // from the full bundles when run from the sources
    const bundles = (TRIMMED_BUNDLES as string[]).map((name) => trimmedBundle(name) as Bundle<StructureDefinition>);
    const names = bundles.flatMap((b) => (b.entry ?? []).map((e) => e.resource?.name).filter((n): n is string => !!n));
    const indexed = names.filter((n) => tryGetDataType(n) !== undefined); // profiles are indexed by URL, not name
    expect(indexed.length).toBeGreaterThan(200);
    const full = snapshot(indexed);
    for (const b of bundles) indexStructureDefinitionBundle(b);
    expect(snapshot(indexed)).toBe(full);
  }, 60_000);
});
