// `_elements` for export: keep the listed top-level elements (plus id, meta and the mandatory
// ones) and tag the resource SUBSETTED, as search does for `_elements`.
import { getDataType } from '@medplum/core';
import type { Coding, Resource } from '@medplum/fhirtypes';
import { SUBSETTED } from '../search/execute.js';

export type Shaper = (resource: Resource) => Resource;

/** A shaper per type, or undefined when `_elements` names nothing for the type (whole resources). */
export function elementsShaper(type: string, elements: string[] | undefined): Shaper | undefined {
  if (!elements || elements.length === 0) return undefined;
  const wanted = new Set<string>();
  for (const e of elements) {
    const dot = e.indexOf('.');
    if (dot < 0) wanted.add(e.replace('[x]', ''));
    else if (e.slice(0, dot) === type) wanted.add(e.slice(dot + 1).replace('[x]', ''));
  }
  if (wanted.size === 0) return undefined;
  const schema = getDataType(type);
  for (const [key, el] of Object.entries(schema.elements)) if (el.min > 0) wanted.add(key.replace('[x]', ''));
  const keep = (name: string): boolean => {
    if (name === 'resourceType' || name === 'id' || name === 'meta') return true;
    for (const w of wanted) {
      if (name === w) return true;
      if (name.startsWith(w) && /^[A-Z]/.test(name.slice(w.length))) return true; // choice type: occurrence → occurrenceDateTime
    }
    return false;
  };
  return (resource) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(resource)) if (keep(k)) out[k] = v;
    const meta = { ...((out.meta as Record<string, unknown>) ?? {}) };
    const tags = Array.isArray(meta.tag) ? [...(meta.tag as Coding[])] : [];
    if (!tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) tags.push(SUBSETTED);
    meta.tag = tags;
    out.meta = meta;
    return out as unknown as Resource;
  };
}
