// _include/_revinclude reach resource types the search does not name: the caller's scopes decide
// what comes back for those too (SMART: a token only sees the types its scopes grant).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer('embedded');
  const put = (resource: Record<string, unknown>) => server.fhir('PUT', `${resource.resourceType}/${resource.id}`, { body: resource });
  expect((await put({ resourceType: 'Organization', id: 'clinic-inc', name: 'Clinic' })).status).toBe(201);
  const child = { resourceType: 'Patient', name: [{ family: 'Included', given: ['Ida'] }], birthDate: '2020-02-02', managingOrganization: { reference: 'Organization/clinic-inc' } };
  expect((await put({ ...child, id: 'inc-1' })).status).toBe(201);
  expect((await put({ resourceType: 'Group', id: 'inc-group', type: 'person', actual: true, member: [{ entity: { reference: 'Patient/inc-1' } }] })).status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

const entriesOf = (body: any): string[] => (body.entry ?? []).map((e: any) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id ?? ''}`);
const search = (path: string, scope: string) =>
  server.fhir('GET', path, { headers: { authorization: `Bearer ${server.token({ scope, organization: 'Organization/clinic-inc' })}` } });

describe('search: _include/_revinclude and scopes', () => {
  it('leaves out included resources of a type the token may not read, and says so', async () => {
    const rev = await search('Organization?_id=clinic-inc&_revinclude=Patient:organization', 'user/Organization.rs user/Group.rs');
    expect(rev.status).toBe(200);
    expect(entriesOf(rev.body)).toEqual(['match:Organization/clinic-inc', 'outcome:OperationOutcome/']);
    expect(JSON.stringify(rev.body)).toContain("do not allow reading Patient");
    const inc = await search('Group?_id=inc-group&_include=Group:member', 'user/Organization.rs user/Group.rs');
    expect(entriesOf(inc.body).filter((e) => e.includes('Patient'))).toEqual([]);
  });

  it('still includes them when the token may read the type', async () => {
    const rev = await search('Organization?_id=clinic-inc&_revinclude=Patient:organization', 'user/Organization.rs user/Patient.rs');
    expect(entriesOf(rev.body)).toEqual(['match:Organization/clinic-inc', 'include:Patient/inc-1']);
    const inc = await search('Group?_id=inc-group&_include=Group:member', 'user/Group.rs user/Patient.r');
    expect(entriesOf(inc.body)).toEqual(['match:Group/inc-group', 'include:Patient/inc-1']);
  });
});
