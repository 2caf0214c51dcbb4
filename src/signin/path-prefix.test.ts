// PUBLIC_BASE_URL with a path: a proxy serves the registry at https://iis.example.org/registry and
// strips the path off, as the FHIR API (/fhir), /soap and /app expect. The sign-in server's
// discovery, pages and token endpoint must work through the same proxy (they were served under the
// path only, so no proxy set-up served both the FHIR API and the sign-in).
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestServer, type TestServer } from '../../test/helpers/server.js';
import { WEB_APP_CLIENT_ID } from './app-clients.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

const PREFIX = '/registry';
let server: TestServer;
let proxy: Server;
let publicBase: string;

beforeAll(async () => {
  // The proxy listens first so PUBLIC_BASE_URL can name it; it forwards to the server once started.
  let upstreamPort = 0;
  proxy = createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(`${PREFIX}/`)) {
      res.writeHead(404).end('not under the prefix');
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: url.slice(PREFIX.length), headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  publicBase = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${PREFIX}`;
  upstreamPort = await freePort();
  server = await startTestServer('embedded', { port: upstreamPort, publicBaseUrl: publicBase });
  await signinOf(server).users.create({ username: 'nurse.prefix', password: 'prefix nurse 12', role: 'clinician', organization: 'Organization/clinic-a' });
});
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => proxy?.close(resolve));
});

describe('PUBLIC_BASE_URL with a path, behind a proxy that strips it', () => {
  it('discovery, sign-in, code exchange and the FHIR API all answer through the proxy', async () => {
    const smart = await (await fetch(`${publicBase}/.well-known/smart-configuration`)).json();
    expect(smart.authorization_endpoint).toBe(`${publicBase}/auth/authorize`);
    const openid = await fetch(`${publicBase}/auth/.well-known/openid-configuration`);
    expect(openid.status).toBe(200);
    expect((await openid.json()).token_endpoint).toBe(`${publicBase}/auth/token`);

    const cfg = await oidc.discovery(new URL(`${publicBase}/auth`), WEB_APP_CLIENT_ID, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const tokens = await signInWithCode(cfg, { redirectUri: `${publicBase}/app/callback`, scope: 'openid fhirUser user/Patient.rs', username: 'nurse.prefix', password: 'prefix nurse 12' });
    const search = await fetch(`${publicBase}/fhir/Patient?_count=1`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(search.status).toBe(200);
  });

  it('the operators\' admin API stays at /auth/admin', async () => {
    const res = await fetch(`${publicBase}/auth/admin/users`, { headers: { authorization: `Bearer ${server.token()}` } });
    expect(res.status, await res.clone().text()).toBe(200);
  });
});
