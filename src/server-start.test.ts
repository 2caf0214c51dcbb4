// Starting before the store is reachable: the port answers /healthz 200, /readyz 503 and every other
// request a 503 OperationOutcome with Retry-After until MongoDB answers; then the server is the
// server. A SIGTERM (abort) while waiting ends the start and frees the port. CONTRACT.md "Running it".
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { startServer, type RunningServer } from './server.js';
import { dropDatabase, freePort, testMongoUrl } from '../test/helpers/server.js';

const SECRET = 'test-secret-for-hs256-tokens-only';
const MONGO = testMongoUrl();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function configFor(mongodbUrl: string | undefined): Promise<Config> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'iis-start-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  return { port, publicBaseUrl: `http://127.0.0.1:${port}`, mongodbUrl, dataDir, bodyLimitBytes: 1 << 20, logLevel: 'silent', authJwtSecret: SECRET };
}

async function get(config: Config, urlPath: string): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`http://127.0.0.1:${config.port}${urlPath}`, { headers: { authorization: `Bearer ${jwt.sign({ scope: 'system/*.cruds' }, SECRET, { expiresIn: 600 })}` } });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** A loopback TCP forwarder on `port` to `target`, started when called (until then nothing listens there). */
function forward(port: number, target: { host: string; port: number }): Promise<net.Server> {
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(target.port, target.host);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      })
  );
  return new Promise((resolve) => proxy.listen(port, '127.0.0.1', () => resolve(proxy)));
}

describe('a server whose MongoDB is not reachable at start', () => {
  it('is alive and not ready, answers 503 with Retry-After, and stops waiting when aborted', async () => {
    const config = await configFor(`mongodb://127.0.0.1:${await freePort()}/iis_never`);
    const abort = new AbortController();
    const start = startServer(config, { logger: createLogger('silent'), signal: abort.signal });
    start.catch(() => undefined);
    await expect.poll(async () => (await get(config, '/healthz').catch(() => ({ status: 0 }))).status, { timeout: 10_000 }).toBe(200);

    const ready = await get(config, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'unavailable', store: 'mongodb' });
    const fhir = await get(config, '/fhir/Patient?family=smith');
    expect(fhir.status).toBe(503);
    expect(fhir.headers.get('content-type')).toContain('application/fhir+json');
    expect(fhir.headers.get('retry-after')).toBe('5');
    expect(fhir.body.resourceType).toBe('OperationOutcome');
    expect(fhir.body.issue[0]).toMatchObject({ severity: 'error', code: 'transient' });
    // A browser verifier fetching the issuer's keys can read the refusal (CORS as on every answer).
    const keys = await fetch(`http://127.0.0.1:${config.port}/.well-known/jwks.json`, { headers: { origin: 'https://verifier.example' } });
    expect(keys.status).toBe(503);
    expect(keys.headers.get('access-control-allow-origin')).toBe('https://verifier.example');
    const preflight = await fetch(`http://127.0.0.1:${config.port}/fhir/Patient`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(204);
    // After the first attempt failed, the reason says why (the driver's own words).
    await expect.poll(async () => (await get(config, '/readyz')).body.reason, { timeout: 15_000 }).toMatch(/MongoDB unavailable/);

    abort.abort();
    await expect(start).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${config.port}/healthz`)).rejects.toThrow();
  }, 30_000);

  it.runIf(MONGO)('serves as usual once MongoDB answers', async () => {
    const target = new URL(MONGO as string);
    const proxyPort = await freePort();
    const url = `mongodb://127.0.0.1:${proxyPort}/iis_start_${randomUUID().replace(/-/g, '').slice(0, 12)}${target.search}`;
    const config = await configFor(url);
    let running: RunningServer | undefined;
    const start = startServer(config, { logger: createLogger('silent') }).then((r) => (running = r));
    cleanups.push(async () => {
      await start.catch(() => undefined);
      await running?.close();
      await dropDatabase(`mongodb://${target.host}${new URL(url).pathname}${target.search}`);
    });
    await expect.poll(async () => (await get(config, '/readyz').catch(() => ({ status: 0 }))).status, { timeout: 10_000 }).toBe(503);
    expect(running).toBeUndefined();

    await forward(proxyPort, { host: target.hostname, port: Number(target.port || 27017) });
    await start;
    expect((await get(config, '/readyz')).status).toBe(200);
    const res = await fetch(`${config.publicBaseUrl}/fhir/Patient`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt.sign({ scope: 'system/*.cruds' }, SECRET, { expiresIn: 600 })}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Waite', given: ['Ada'] }], birthDate: '2020-02-02', gender: 'female' }),
    });
    expect(res.status).toBe(201);
  }, 60_000);
});

if (!MONGO) {
  console.warn('server-start.test.ts: TEST_MONGODB_URL is not set, so the start that waits for MongoDB and then serves is not checked (it needs a MongoDB to forward to)');
}
