// The router on its own: what a method and path address, and the 404 / 405 answers for the rest.
import { describe, expect, it } from 'vitest';
import { isFhirError } from '../fhir/outcome.js';
import type { FhirRequest } from '../fhir/request.js';
import { HandlerRegistry } from './registry.js';
import { route } from './router.js';

const registry = new HandlerRegistry();
/** The HTTP edge passes the request's method as it came (TRACE, PROPFIND…), not only FHIR's. */
const routeRaw = (method: string, path: string) => route(method as FhirRequest['method'], path.split('/'), registry);
const refusal = (method: string, path: string): { status: number; text: string } => {
  try {
    routeRaw(method, path);
  } catch (err) {
    if (isFhirError(err)) return { status: err.status, text: err.outcome.issue?.[0]?.diagnostics ?? '' };
    throw err;
  }
  throw new Error(`${method} ${path} was routed`);
};

describe('route', () => {
  it('routes the type and instance interactions', () => {
    expect(routeRaw('GET', 'Patient')).toEqual({ interaction: 'search-type', resourceType: 'Patient' });
    expect(routeRaw('POST', 'Patient')).toEqual({ interaction: 'create', resourceType: 'Patient' });
    expect(routeRaw('DELETE', 'Patient/p1')).toEqual({ interaction: 'delete', resourceType: 'Patient', id: 'p1' });
  });

  it('a method the type does not answer is a 405 naming the type, not an instance "Patient/undefined"', () => {
    for (const method of ['TRACE', 'PROPFIND', 'OPTIONS']) {
      const { status, text } = refusal(method, 'Patient');
      expect(status, method).toBe(405);
      expect(text, method).toBe(`${method} is not allowed on Patient`);
    }
    expect(refusal('TRACE', 'Patient/p1')).toEqual({ status: 405, text: 'TRACE is not allowed on Patient/p1' });
  });
});
