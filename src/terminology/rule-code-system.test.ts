// The rule codes of OperationOutcomes resolve at the server: the system of a refused write's
// issue.details.coding is a CodeSystem a client can search by url, read and $lookup (it was only a
// file in profiles/). On the embedded store, and on MongoDB when TEST_MONGODB_URL is set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patient, startTestServer, testMongoUrl, type StoreKind, type TestServer } from '../../test/helpers/server.js';
import { ruleCodeSystem, syncRuleCodeSystem } from './rule-code-system.js';

function suite(kind: StoreKind): void {
  describe(`CodeSystem/iis-rule (${kind} store)`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(kind);
    });
    afterAll(async () => {
      await server?.close();
    });

    it("a refused write's rule coding resolves: CodeSystem?url= finds it, the read answers it, $lookup knows the code", async () => {
      const refused = await server.fhir('POST', 'Patient', { body: patient({ birthDate: '2999-01-01' }) });
      expect(refused.status, refused.text).toBe(422);
      const coding = refused.body.issue.map((i: any) => i.details?.coding?.[0]).find((c: any) => c?.code === 'birthdate-in-future');
      expect(coding.system).toBe(ruleCodeSystem().url);

      const found = await server.fhir('GET', `CodeSystem?url=${encodeURIComponent(coding.system)}`);
      expect(found.status, found.text).toBe(200);
      expect(found.body.entry.map((e: any) => e.resource.id)).toEqual(['iis-rule']);
      const read = await server.fhir('GET', 'CodeSystem/iis-rule');
      expect(read.status, read.text).toBe(200);
      expect(read.body.concept.map((c: any) => c.code)).toContain('birthdate-in-future');

      const lookup = await server.fhir('GET', `CodeSystem/$lookup?system=${encodeURIComponent(coding.system)}&code=birthdate-in-future`);
      expect(lookup.status, lookup.text).toBe(200);
      expect(lookup.body.parameter.find((p: any) => p.name === 'display')?.valueString).toBeTruthy();
    });
  });
}

suite('embedded');
if (testMongoUrl()) suite('mongodb');
else describe('CodeSystem/iis-rule (mongodb store)', () => it.skip('TEST_MONGODB_URL is not set: the MongoDB tier is not run', () => {}));

describe('syncRuleCodeSystem', () => {
  it('writes the file once and again only when its content changed', async () => {
    const { TestStore } = await import('../search/test-store.js');
    const { loadDefinitions } = await import('../fhir/definitions.js');
    loadDefinitions();
    const store = new TestStore();
    expect(await syncRuleCodeSystem(store)).toBe(true);
    expect(await syncRuleCodeSystem(store)).toBe(false);
    const changed = { ...ruleCodeSystem(), version: '99.0.0' };
    expect(await syncRuleCodeSystem(store, changed)).toBe(true);
    expect((await store.read('CodeSystem', 'iis-rule'))?.resource).toMatchObject({ version: '99.0.0' });
  });
});
