import { describe, expect, it } from 'vitest';
import { loggablePath } from './log-path.js';

describe('loggablePath', () => {
  it('never writes a SMART Health Link id or a manifest file token', () => {
    const id = 'q6bvvdH7y2SsZ3Eik4J1kYRw3B6kG4-h2xk7mXVHqjA';
    expect(loggablePath(`/shl/${id}`)).toBe('/shl/[redacted]');
    expect(loggablePath(`/shl/${id}?recipient=Dr%20Who`)).toBe('/shl/[redacted]');
    expect(loggablePath(`/shl/file/${id}`)).toBe('/shl/file/[redacted]');
    expect(loggablePath(`/shl/file/${id}`)).not.toContain(id);
  });

  it('keeps every other path as it is, without the query', () => {
    expect(loggablePath('/fhir/Patient/123/$health-link-create')).toBe('/fhir/Patient/123/$health-link-create');
    expect(loggablePath('/fhir/Patient?family=Smith')).toBe('/fhir/Patient');
    expect(loggablePath('/shlx/abc')).toBe('/shlx/abc');
  });
});
