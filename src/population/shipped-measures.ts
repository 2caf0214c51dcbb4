// The shipped coverage Measures (profiles/measures) as stored resources, so a client can list and
// read what `Measure/{id}/$evaluate-measure` evaluates (`GET /fhir/Measure`, `/fhir/Measure/{id}`)
// and resolve a MeasureReport's `measure` canonical: before, they were only known to the
// evaluator, and a read of `Measure/childhood-combined-7` answered 404.
// Written on start when the store never had them; rewritten when a shipped file changed, but only
// while the stored copy is still the one the server wrote (its content hash in a meta tag): an
// administrator's `PUT /fhir/Measure/{id}` stays and takes precedence, a `DELETE` stays deleted.
import { createHash } from 'node:crypto';
import type { Measure } from '@medplum/fhirtypes';
import { extractSearchIndex } from '../search/extract.js';
import { VersionConflictError, type Store } from '../store/store.js';
import { shippedMeasures } from './measure-definition.js';

/** meta.tag system whose code is the sha256 of the shipped content the server wrote. */
export const SHIPPED_CONTENT_TAG = 'https://iis-fhir-server.org/fhir/CodeSystem/shipped-content';

/** sha256 of a Measure's content without its meta (what the store stamps, and our tag). */
export function measureContentHash(measure: Measure): string {
  const { meta: _meta, ...content } = measure;
  return `sha256:${createHash('sha256').update(JSON.stringify(content)).digest('hex')}`;
}

/** Stores the shipped Measures that are absent or still the server's own older copy; returns the ids written. */
export async function syncShippedMeasures(store: Store, measures: Map<string, Measure> = shippedMeasures()): Promise<string[]> {
  const written: string[] = [];
  for (const [id, shipped] of measures) {
    const hash = measureContentHash(shipped);
    const current = await store.read('Measure', id);
    if (current?.deleted) continue;
    const live = current?.resource as Measure | undefined;
    if (live) {
      const tag = live.meta?.tag?.find((t) => t.system === SHIPPED_CONTENT_TAG)?.code;
      // Not the server's (an administrator's PUT), already current, or changed since it was written.
      if (!tag || tag === hash || measureContentHash(live) !== tag) continue;
    }
    const resource: Measure = { ...shipped, meta: { tag: [{ system: SHIPPED_CONTENT_TAG, code: hash, display: 'As shipped in profiles/measures' }] } };
    try {
      await store.write({ resourceType: 'Measure', id, resource, ifVersion: live ? current!.versionId : 'absent', index: extractSearchIndex(resource) });
      written.push(id);
    } catch (err) {
      // Another process wrote it first: theirs stands.
      if (!(err instanceof VersionConflictError)) throw err;
    }
  }
  return written;
}
