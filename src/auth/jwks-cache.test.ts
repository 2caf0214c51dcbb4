// The remote JWKS cache: key rotation picked up on an unknown kid, refetches bounded in rate
// (after success and after failure), concurrent callers sharing one fetch, stale keys kept when
// the issuer is down.
import { errors, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeKey, signWith, startJwksServer, type JwksServer, type TestKey } from '../../test/helpers/jwks-server.js';
import { JwksUnavailableError, RemoteJwks } from './jwks-cache.js';

let server: JwksServer;
let a: TestKey;
let b: TestKey;
let clock = 0;
const PATH = '/keys.json';

beforeAll(async () => {
  server = await startJwksServer();
  a = await makeKey('RS384', 'key-a');
  b = await makeKey('ES384', 'key-b');
});
afterAll(() => server.close());
beforeEach(() => {
  clock = 1_000_000;
  server.sets.set(PATH, { keys: [a.publicJwk] });
  server.failing.clear();
  server.hits.clear();
});

const cache = () => new RemoteJwks(`${server.url}${PATH}`, { cooldownMs: 30_000, retryMs: 5_000, maxAgeMs: 600_000, now: () => clock });
const claims = () => ({ exp: Math.floor(Date.now() / 1000) + 60 });
const verify = async (jwks: RemoteJwks, key: TestKey) => jwtVerify(await signWith(key, claims()), jwks.getKey);

describe('RemoteJwks', () => {
  it('fetches once and serves from cache', async () => {
    const jwks = cache();
    for (let i = 0; i < 5; i++) await verify(jwks, a);
    expect(jwks.fetches).toBe(1);
    expect(server.hits.get(PATH)).toBe(1);
  });

  it('picks up a rotated key on an unknown kid, but at most once per cool-down', async () => {
    const jwks = cache();
    await verify(jwks, a);
    server.sets.set(PATH, { keys: [a.publicJwk, b.publicJwk] });
    clock += 1_000; // within the cool-down: no refetch, the unknown kid fails
    for (let i = 0; i < 10; i++) await expect(verify(jwks, b)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(jwks.fetches).toBe(1);
    clock += 30_000; // cool-down over: one refetch finds the new key
    await verify(jwks, b);
    expect(jwks.fetches).toBe(2);
    await verify(jwks, a);
    expect(jwks.fetches).toBe(2);
  });

  it('a kid that stays unknown costs one fetch per cool-down, not one per token', async () => {
    const jwks = cache();
    await verify(jwks, a);
    for (let round = 0; round < 3; round++) {
      clock += 31_000;
      for (let i = 0; i < 20; i++) await expect(verify(jwks, b)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    }
    expect(jwks.fetches).toBe(4);
  });

  it('concurrent verifications share one fetch', async () => {
    const jwks = cache();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => signWith(a, claims())));
    await Promise.all(tokens.map((t) => jwtVerify(t, jwks.getKey)));
    expect(jwks.fetches).toBe(1);
  });

  it('when the issuer fails: JwksUnavailableError, retried at most once per retry interval', async () => {
    server.failing.set(PATH, 500);
    const jwks = cache();
    await expect(verify(jwks, a)).rejects.toBeInstanceOf(JwksUnavailableError);
    for (let i = 0; i < 10; i++) await expect(verify(jwks, a)).rejects.toBeInstanceOf(JwksUnavailableError);
    expect(server.hits.get(PATH)).toBe(1);
    server.failing.clear();
    clock += 5_000;
    await verify(jwks, a);
    expect(server.hits.get(PATH)).toBe(2);
  });

  it('keeps serving cached keys past their max age while the issuer is down', async () => {
    const jwks = cache();
    await verify(jwks, a);
    server.failing.set(PATH, 503);
    clock += 700_000; // stale
    await verify(jwks, a);
    expect(server.hits.get(PATH)).toBe(2);
    await verify(jwks, a); // within the retry interval: no new attempt
    expect(server.hits.get(PATH)).toBe(2);
  });

  it('refuses a document that is not a key set, and drops private members of keys', async () => {
    server.sets.set(PATH, { nope: true } as never);
    await expect(verify(cache(), a)).rejects.toThrow(/not a JSON Web Key Set/);
    server.sets.set(PATH, { keys: [{ ...a.publicJwk, d: 'secret-looking' }] });
    await verify(cache(), a);
  });
});
