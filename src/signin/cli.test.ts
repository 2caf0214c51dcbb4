// npm run users / npm run clients, against a running server (admin API) and on a stopped one (store).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { exportJWK, generateKeyPair } from 'jose';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../config.js';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { createStore } from '../app/open-store.js';
import { runCli } from './cli.js';
import { ARTIFACTS_NAMESPACE } from './provider-adapter.js';
import { signinOf } from './test-helpers.js';

function capture() {
  const lines: string[] = [];
  const errors: string[] = [];
  return { io: { out: (l: string) => lines.push(l), err: (l: string) => errors.push(l) }, lines, errors };
}

describe('npm run users / clients with no server running (direct store access)', () => {
  let dir: string;
  let config: Config;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iis-cli-'));
    config = loadConfig({ DATA_DIR: dir, PORT: '1', LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds, lists and disables users; registers an app', async () => {
    const add = capture();
    expect(await runCli('users', ['add', '--username', 'nurse.joy', '--password', 'pallet town 1', '--organization', 'Organization/clinic-a', '--role', 'clinician'], config, add.io)).toBe(0);
    expect(add.lines.join('\n')).toMatch(/added nurse\.joy \(clinician, Organization\/clinic-a\)/);
    const again = capture();
    expect(await runCli('users', ['add', '--username', 'nurse.joy', '--password', 'pallet town 1', '--organization', 'Organization/clinic-a', '--role', 'clinician'], config, again.io)).toBe(1);
    expect(again.errors.join('\n')).toMatch(/409.*taken/);
    const bad = capture();
    expect(await runCli('users', ['add', '--username', 'x', '--password', 'p', '--role', 'nurse'], config, bad.io)).toBe(2);
    // CONTRACT.md's command takes any password of the length rules: a commonly used one is set,
    // with a warning (people choosing their own, through the admin API or the web app, are refused).
    const common = capture();
    expect(await runCli('users', ['add', '--username', 'nurse.common', '--password', 'qwertyuiop', '--organization', 'Organization/clinic-a', '--role', 'clinician'], config, common.io)).toBe(0);
    expect(common.errors.join('\n')).toMatch(/warning: .*most commonly used/);
    expect(common.lines.join('\n')).toMatch(/added nurse\.common/);
    const plain = capture();
    expect(await runCli('users', ['reset-password', '--username', 'nurse.common', '--password', 'pallet town 2'], config, plain.io)).toBe(0);
    expect(plain.errors).toEqual([]);
    expect(await runCli('users', ['disable', '--username', 'nurse.common'], config, capture().io)).toBe(0);
    expect(await runCli('users', ['disable', '--username', 'nurse.joy'], config, capture().io)).toBe(0);
    const list = capture();
    expect(await runCli('users', ['list'], config, list.io)).toBe(0);
    expect(list.lines).toEqual(['nurse.common\tclinician\tOrganization/clinic-a\tdisabled', 'nurse.joy\tclinician\tOrganization/clinic-a\tdisabled']);
    const client = capture();
    expect(await runCli('clients', ['add', '--client-id', 'clinic-ehr', '--redirect-uri', 'https://ehr.example/cb'], config, client.io)).toBe(0);
    expect(client.lines.join('\n')).toMatch(/client_secret=[\w-]{40,}/);
    // private_key_jwt with the keys in a file; a registration token.
    const keyFile = path.join(dir, 'app-jwks.json');
    await writeFile(keyFile, JSON.stringify({ keys: [{ ...(await exportJWK((await generateKeyPair('ES384')).publicKey)), kid: 'k1' }] }));
    const asym = capture();
    expect(await runCli('clients', ['add', '--client-id', 'chart-app', '--redirect-uri', 'https://chart.example/cb', '--jwks', keyFile], config, asym.io)).toBe(0);
    expect(asym.lines.join('\n')).toMatch(/private_key_jwt/);
    expect(asym.lines.join('\n')).not.toMatch(/client_secret/);
    const token = capture();
    expect(await runCli('clients', ['registration-token', '--hours', '2'], config, token.io)).toBe(0);
    expect(token.lines.join('\n')).toMatch(/registration_token=[\w-]{40,}/);
    // Removing an app on the store ends its access tokens for the servers started on it (a revoked-client record).
    expect(await runCli('clients', ['remove', '--client-id', 'chart-app'], config, capture().io)).toBe(0);
    const store = await createStore(config);
    await store.init();
    try {
      const revoked = await store.expiringRecords(ARTIFACTS_NAMESPACE).listBy('revoked', 'client');
      expect(revoked.map((r) => r.value.client)).toEqual(['chart-app']);
    } finally {
      await store.close();
    }
  });
});

describe('npm run users / clients while a server it does not find holds the store', () => {
  it('names the address it looked at and how to reach the server, not "stop it first"', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'iis-cli-locked-'));
    try {
      // A live process (this test's parent) holds the lock, as a server on another port would.
      await writeFile(path.join(dir, 'LOCK'), `${process.ppid}\n`);
      const config = loadConfig({ DATA_DIR: dir, PORT: '1', LOG_LEVEL: 'silent' });
      const add = capture();
      await expect(runCli('users', ['list'], config, add.io)).rejects.toThrow(
        new RegExp(`in use by process ${process.ppid}, but no server answers at http://localhost:1: run this command with that server's PORT or PUBLIC_BASE_URL, or --url`)
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run users / clients against a running server (admin API)', () => {
  let server: TestServer;
  let config: Config;
  beforeAll(async () => {
    server = await startTestServer('embedded');
    config = loadConfig({ DATA_DIR: server.dataDir, PUBLIC_BASE_URL: server.url, LOG_LEVEL: 'silent' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('goes through the server while it holds the store', async () => {
    const add = capture();
    expect(await runCli('users', ['add', '--username', 'site.admin', '--password', 'clinic a admin', '--organization', 'Organization/clinic-a', '--role', 'site-admin'], config, add.io)).toBe(0);
    expect(await signinOf(server).users.findByUsername('site.admin')).toMatchObject({ role: 'site-admin', organization: 'Organization/clinic-a' });
    const totp = capture();
    expect(await runCli('users', ['totp', '--username', 'site.admin', '--enable'], config, totp.io)).toBe(0);
    expect(totp.lines.join('\n')).toMatch(/otpauth:\/\/totp\/IIS:site\.admin/);
    const pub = capture();
    expect(await runCli('clients', ['add', '--client-id', 'phone-app', '--redirect-uri', 'http://127.0.0.1:7000/cb', '--public'], config, pub.io)).toBe(0);
    expect(pub.lines.join('\n')).not.toMatch(/client_secret/);
    expect(await signinOf(server).clients.get('phone-app')).toMatchObject({ public: true });
    expect((await signinOf(server).clients.get('phone-app'))?.askConsent).toBeUndefined();
    expect(pub.lines.join('\n')).toMatch(/consent: given with the user's sign-in/);
    const asking = capture();
    expect(await runCli('clients', ['add', '--client-id', 'asking-app', '--redirect-uri', 'http://127.0.0.1:7000/cb', '--public', '--ask-consent'], config, asking.io)).toBe(0);
    expect(asking.lines.join('\n')).toMatch(/consent: the user allows the app on a consent screen/);
    expect(await signinOf(server).clients.get('asking-app')).toMatchObject({ askConsent: true });
    const launchable = capture();
    expect(await runCli('clients', ['add', '--client-id', 'growth-chart', '--redirect-uri', 'https://growth.example/cb', '--public', '--launch-uri', 'https://growth.example/launch'], config, launchable.io)).toBe(0);
    expect(launchable.lines.join('\n')).toMatch(/launch_uri=https:\/\/growth\.example\/launch/);
    expect(await signinOf(server).clients.get('growth-chart')).toMatchObject({ launchUri: 'https://growth.example/launch' });
    const listed = capture();
    expect(await runCli('clients', ['list'], config, listed.io)).toBe(0);
    expect(listed.lines).toContain('growth-chart\tpublic\thttps://growth.example/cb\tlaunch https://growth.example/launch');
    const badLaunch = capture();
    expect(await runCli('clients', ['add', '--client-id', 'bad-launch', '--redirect-uri', 'https://x.example/cb', '--public', '--launch-uri', 'http://x.example/launch'], config, badLaunch.io)).toBe(1);
    expect(badLaunch.errors.join('\n')).toMatch(/launch URI .* must use https/);
    for (const [flag, uri] of [['--redirect-uri', 'javascript:alert(1)//'], ['--launch-uri', 'data:text/html,<script>alert(1)</script>']]) {
      const scripted = capture();
      const args = ['add', '--client-id', 'scripted', '--redirect-uri', 'https://s.example/cb', '--public', flag, uri];
      expect(await runCli('clients', args, config, scripted.io), uri).toBe(1);
      expect(scripted.errors.join('\n')).toMatch(/must be an app's address/);
    }
    expect(await signinOf(server).clients.get('scripted')).toBeUndefined();
    const byUrl = capture();
    expect(await runCli('clients', ['add', '--client-id', 'url-app', '--redirect-uri', 'https://u.example/cb', '--jwks-uri', 'https://u.example/jwks.json'], config, byUrl.io)).toBe(0);
    expect(await signinOf(server).clients.get('url-app')).toMatchObject({ public: false, jwksUri: 'https://u.example/jwks.json' });
    expect((await signinOf(server).clients.get('url-app'))?.secretHash).toBeUndefined();
    const token = capture();
    expect(await runCli('clients', ['registration-token'], config, token.io)).toBe(0);
    const issued = /registration_token=([\w-]+)/.exec(token.lines.join('\n'))?.[1];
    const registered = await fetch(`${server.url}/auth/register`, { method: 'POST', headers: { authorization: `Bearer ${issued}`, 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://d.example/cb'], token_endpoint_auth_method: 'none' }) });
    expect(registered.status).toBe(201);
    const missing = capture();
    expect(await runCli('users', ['disable', '--username', 'nobody'], config, missing.io)).toBe(1);
    expect(missing.errors.join('\n')).toMatch(/404/);
  });
});
