// Client registration file checks: a broken registration stops the server instead of weakening auth.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClients, parseClients } from './clients.js';

const ecKey = { kty: 'EC', crv: 'P-384', x: 'x', y: 'y', kid: 'k1', alg: 'ES384' };

describe('parseClients', () => {
  it('reads {clients: [...]} and bare arrays, inline jwks and jwks_uri', () => {
    const clients = parseClients({
      clients: [
        { client_id: 'a', jwks: { keys: [ecKey] }, scope: ' system/*.rs ', organization: 'Organization/o-1' },
        { client_id: 'b', jwks_uri: 'https://b.example/jwks', scope: 'system/Patient.rs' },
      ],
    });
    expect(clients).toEqual([
      { clientId: 'a', jwks: { keys: [ecKey] }, scope: 'system/*.rs', organization: 'Organization/o-1' },
      { clientId: 'b', jwksUri: 'https://b.example/jwks', scope: 'system/Patient.rs' },
    ]);
    expect(parseClients([{ client_id: 'c', jwks_uri: 'http://127.0.0.1:1/k', scope: 'system/*.rs' }])).toHaveLength(1);
  });

  it.each([
    [{}, /expected/],
    [[{ jwks_uri: 'https://x', scope: 's' }], /client_id/],
    [[{ client_id: 'a', jwks_uri: 'https://x' }], /scope/],
    [[{ client_id: 'a', scope: 'system/*.rs' }], /exactly one of jwks and jwks_uri/],
    [[{ client_id: 'a', scope: 'system/*.rs', jwks: { keys: [ecKey] }, jwks_uri: 'https://x' }], /exactly one/],
    [[{ client_id: 'a', scope: 'system/*.rs', jwks: { keys: [{ ...ecKey, d: 'private' }] } }], /private key/],
    [[{ client_id: 'a', scope: 'system/*.rs', jwks: { keys: [] } }], /keys/],
    [[{ client_id: 'a', scope: 'system/*.rs', jwks_uri: 'file:///etc/passwd' }], /http/],
    [[{ client_id: 'a', scope: 'system/*.rs', jwks_uri: 'not a url' }], /not a URL/],
    [[{ client_id: 'a', scope: 'system/*.rs', jwks_uri: 'https://x', organization: 'clinic' }], /Organization/],
    [
      [
        { client_id: 'a', scope: 'system/*.rs', jwks_uri: 'https://x' },
        { client_id: 'a', scope: 'system/*.rs', jwks_uri: 'https://y' },
      ],
      /twice/,
    ],
  ])('refuses %j', (json, message) => {
    expect(() => parseClients(json)).toThrow(message);
  });
});

describe('loadClients', () => {
  it('no file: no clients; unreadable or non-JSON file: an error naming it', async () => {
    expect(loadClients(undefined)).toEqual([]);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'iis-clients-'));
    try {
      expect(() => loadClients(path.join(dir, 'missing.json'))).toThrow(/missing\.json cannot be read/);
      await writeFile(path.join(dir, 'bad.json'), '{');
      expect(() => loadClients(path.join(dir, 'bad.json'))).toThrow(/bad\.json is not JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
