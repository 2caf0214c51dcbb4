// The verifier's dispatch by header and the caller it yields; an unreachable issuer key set is a
// 503 (the server cannot check the token), not a 401 (the token is not known to be bad).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, signWith, startJwksServer, type JwksServer, type TestKey } from '../../test/helpers/jwks-server.js';
import { FhirError } from '../fhir/outcome.js';
import { RemoteJwks } from './jwks-cache.js';
import { createTokenVerifier } from './verify-token.js';

const BASE = 'https://iis.example/fhir';
let server: JwksServer;
let key: TestKey;

beforeAll(async () => {
  server = await startJwksServer();
  key = await makeKey('ES256', 'k');
  server.sets.set('/jwks', { keys: [key.publicJwk] });
});
afterAll(() => server.close());

const exp = () => Math.floor(Date.now() / 1000) + 60;

describe('createTokenVerifier', () => {
  it('yields the caller of a JWKS token', async () => {
    const verifier = createTokenVerifier({ fhirBaseUrl: BASE, jwks: { issuer: 'https://idp', getKey: new RemoteJwks(`${server.url}/jwks`).getKey } });
    const token = await signWith(key, { iss: 'https://idp', sub: 'u1', exp: exp(), scope: 'user/Patient.rs openid', organization: 'Organization/o', azp: 'app-9' });
    const caller = await verifier.verify(`Bearer ${token}`);
    expect(caller).toMatchObject({ sub: 'u1', issuer: 'https://idp', organization: 'Organization/o', clientId: 'app-9', scope: 'user/Patient.rs openid' });
    expect(caller.scopes).toHaveLength(1);
  });

  it('answers 503 when the issuer key set cannot be fetched', async () => {
    server.failing.set('/down', 500);
    const verifier = createTokenVerifier({ fhirBaseUrl: BASE, jwks: { issuer: 'https://idp', getKey: new RemoteJwks(`${server.url}/down`).getKey } });
    const token = await signWith(key, { iss: 'https://idp', exp: exp() });
    const err = await Promise.resolve(verifier.verify(`Bearer ${token}`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FhirError);
    expect((err as FhirError).status).toBe(503);
    expect((err as FhirError).headers['Retry-After']).toBe('5');
  });

  it('with nothing configured every token is refused', async () => {
    const verifier = createTokenVerifier({ fhirBaseUrl: BASE });
    const token = await signWith(key, { iss: 'https://idp', exp: exp() });
    const err = await Promise.resolve(verifier.verify(`Bearer ${token}`)).catch((e: unknown) => e);
    expect((err as FhirError).status).toBe(401);
  });
});
