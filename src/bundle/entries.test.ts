// routeEntry and responseEntry build their objects without spreads followed by more properties
// (V8's slow path); these compare them with the spread-built objects they replaced, key order
// included, over generated entries and answers.
import type { BundleEntry, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { outcome } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { responseEntry, routeEntry, statusLine } from './entries.js';

/** Its JSON (key order included) and own keys in order. */
const shape = (o: object) => ({ json: JSON.stringify(o), keys: Reflect.ownKeys(o), value: o });

/** The response entry as it was built before (a spread of the entry after an optional fullUrl). */
function spreadResponseEntry(res: FhirResponse, baseUrl: string): BundleEntry {
  const response: NonNullable<BundleEntry['response']> = { status: statusLine(res.status) };
  const headers = res.headers ?? {};
  if (headers.Location) response.location = headers.Location;
  if (headers.ETag) response.etag = headers.ETag;
  if (headers['Last-Modified']) response.lastModified = new Date(headers['Last-Modified']).toISOString();
  const informational = (res.issues ?? []).filter((i) => i.severity !== 'error');
  if (informational.length > 0) response.outcome = outcome(informational);
  const entry: BundleEntry = { response };
  if (res.body) {
    if (res.body.resourceType === 'OperationOutcome' && !response.outcome) response.outcome = res.body;
    else if (res.body.resourceType !== 'OperationOutcome') entry.resource = res.body;
  }
  if (entry.resource?.id) entry.fullUrl = `${baseUrl}/${entry.resource.resourceType}/${entry.resource.id}`;
  return { ...(entry.fullUrl ? { fullUrl: entry.fullUrl } : {}), ...entry };
}

const issue: fc.Arbitrary<OperationOutcomeIssue> = fc.record({
  severity: fc.constantFrom('information', 'warning', 'error') as fc.Arbitrary<OperationOutcomeIssue['severity']>,
  code: fc.constantFrom('informational', 'business-rule', 'invalid') as fc.Arbitrary<OperationOutcomeIssue['code']>,
  diagnostics: fc.string(),
});

const body: fc.Arbitrary<Resource | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.record({ resourceType: fc.constant('OperationOutcome' as const), issue: fc.array(issue, { maxLength: 2 }) }),
  fc.record(
    { resourceType: fc.constantFrom('Immunization', 'Patient'), id: fc.oneof(fc.constant(''), fc.uuid()), status: fc.constant('completed') },
    { requiredKeys: ['resourceType'] }
  ) as fc.Arbitrary<Resource>
);

const answer: fc.Arbitrary<FhirResponse> = fc.record(
  {
    status: fc.constantFrom(200, 201, 204, 400, 404, 412, 422),
    headers: fc.record(
      {
        Location: fc.webUrl(),
        ETag: fc.nat().map((v) => `W/"${v}"`),
        'Last-Modified': fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toUTCString()),
      },
      { requiredKeys: [] }
    ),
    body,
    issues: fc.array(issue, { maxLength: 3 }),
  },
  { requiredKeys: ['status'] }
);

describe('responseEntry', () => {
  it('builds the entry the spread built: same JSON, same key order (fullUrl, response, resource)', () => {
    fc.assert(
      fc.property(answer, (res) => {
        expect(shape(responseEntry(res, 'http://x/fhir'))).toEqual(shape(spreadResponseEntry(res, 'http://x/fhir')));
      }),
      { numRuns: 1000 }
    );
  });

  it("a search's Bundle or an operation's Parameters gets a urn:uuid: fullUrl, not an address the server does not serve", () => {
    const id = '3b77204b-fcfc-4150-9f19-2f8c0631df8a';
    const searchset: Resource = { resourceType: 'Bundle', id, type: 'searchset', total: 0 };
    expect(responseEntry({ status: 200, body: searchset }, 'http://x/fhir').fullUrl).toBe(`urn:uuid:${id}`);
    expect(responseEntry({ status: 200, body: { resourceType: 'Parameters', id } as Resource }, 'http://x/fhir').fullUrl).toBe(`urn:uuid:${id}`);
    expect(responseEntry({ status: 200, body: { resourceType: 'Parameters', id: 'not-a-uuid' } as Resource }, 'http://x/fhir')).not.toHaveProperty('fullUrl');
    expect(responseEntry({ status: 200, body: { resourceType: 'Patient', id: 'p1' } }, 'http://x/fhir').fullUrl).toBe('http://x/fhir/Patient/p1');
  });

  it('a HEAD entry answers status and headers without the resource, as HTTP HEAD does', () => {
    const patient: Resource = { resourceType: 'Patient', id: 'p1' };
    const res: FhirResponse = { status: 200, headers: { ETag: 'W/"3"' }, body: patient, lastUpdated: '2024-01-02T03:04:05.678Z' };
    expect(responseEntry(res, 'http://x/fhir', 'HEAD')).toEqual({ response: { status: '200 OK', etag: 'W/"3"', lastModified: '2024-01-02T03:04:05.678Z' } });
    expect(responseEntry(res, 'http://x/fhir', 'GET').resource).toEqual(patient);
  });
});

describe('routeEntry', () => {
  // The router's answer as Pipeline.request builds it (its keys and order), for any method and URL.
  const routed = (method: FhirRequest['method'], url: string): FhirRequest =>
    ({
      prefer: {},
      requestId: 'r1',
      method,
      query: url.includes('?') ? [['identifier', url.split('?')[1]]] : [],
      resourceType: 'Immunization',
      id: url.includes('/') ? url.split('/')[1].split('?')[0] : undefined,
      versionId: undefined,
      operation: undefined,
      interaction: method === 'POST' ? 'create' : method === 'GET' ? 'read' : 'update',
    }) as FhirRequest;
  const ctx = { entries: { route: routed } } as unknown as HandlerContext;

  /** The routed request as it was built before (a spread of the router's answer). */
  function spreadRequest(entry: BundleEntry, outer: Pick<FhirRequest, 'prefer'>): FhirRequest {
    const req = entry.request as NonNullable<BundleEntry['request']>;
    const method = req.method as FhirRequest['method'];
    return {
      ...routed(method, req.url.replace(/^\//, '')),
      body: entry.resource,
      contentType: undefined,
      ifMatch: req.ifMatch,
      ifNoneMatch: req.ifNoneMatch,
      ifNoneExist: req.ifNoneExist,
      ifModifiedSince: req.ifModifiedSince,
      prefer: { return: outer.prefer.return, handling: outer.prefer.handling },
    };
  }

  it('gives the request the spread gave: same fields, same key order', () => {
    const entry = fc.record(
      {
        resource: fc.record({ resourceType: fc.constant('Immunization'), status: fc.constant('completed') }),
        request: fc.record(
          {
            method: fc.constantFrom('POST', 'PUT', 'GET') as fc.Arbitrary<'POST' | 'PUT' | 'GET'>,
            url: fc.constantFrom('Immunization', 'Immunization/abc', '/Immunization?x', 'Immunization/1'),
            ifMatch: fc.constant('W/"1"'),
            ifNoneMatch: fc.constant('*'),
            ifNoneExist: fc.constant('identifier=a|b'),
            ifModifiedSince: fc.constant('2024-01-01T00:00:00Z'),
          },
          { requiredKeys: ['method', 'url'] }
        ),
      },
      { requiredKeys: ['resource', 'request'] }
    ) as fc.Arbitrary<BundleEntry>;
    const prefer = fc.record({ return: fc.constantFrom('minimal', 'representation', 'OperationOutcome'), handling: fc.constantFrom('strict', 'lenient') }, { requiredKeys: [] });
    fc.assert(
      fc.property(entry, fc.nat(200), prefer, (e, index, p) => {
        const outer = { prefer: p as FhirRequest['prefer'] };
        const { request } = routeEntry(e, index, outer, ctx);
        expect(shape(request)).toEqual(shape(spreadRequest(e, outer)));
      }),
      { numRuns: 500 }
    );
  });
});
