// Raw HTTP over a socket, for tests that compare two servers' answers byte for byte (the fast lanes
// against the express routes): the request is sent as given and the answer read whole.
import net from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import type { Config } from '../../src/config.js';
import { startTestServer, type TestServer } from './server.js';

/** Sends raw bytes and returns the raw answer (one request per connection). */
export function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

export const portOf = (server: TestServer): number => Number(new URL(server.url).port);

/**
 * Two servers started alike before the calling file's tests (and closed after them): one is sent
 * the requests express answers, the other those the fast lane answers, and their answers compared.
 * The fields are set once `beforeAll` has run.
 */
export function serverPair(overrides: Partial<Config>): { viaExpress: TestServer; viaLane: TestServer } {
  const pair = {} as { viaExpress: TestServer; viaLane: TestServer };
  beforeAll(async () => {
    [pair.viaExpress, pair.viaLane] = await Promise.all([startTestServer('embedded', overrides), startTestServer('embedded', overrides)]);
  });
  afterAll(async () => {
    await Promise.all([pair.viaExpress?.close(), pair.viaLane?.close()]);
  });
  return pair;
}

/** A raw HTTP/1.1 POST (connection: close); a header given as '' is left out. */
export function rawPost(path: string, body: string, headers: Record<string, string>): string {
  const head = Object.entries({ host: 'localhost', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers })
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  return `POST ${path} HTTP/1.1\r\n${head}\r\n\r\n${body}`;
}

/**
 * An HL7 v2 answer without what differs between two servers by nature: the Date header, each
 * server's own URL (the Bearer realm), HL7 timestamps (the time of answering), the ACK's or RSP's
 * own control id (MSH-10, random) and resource ids (random UUIDs; in a reference or PID-3's SR id).
 */
export function normalisedHl7Answer(raw: string): string {
  return raw
    .replace(/^Date: .*$/gim, 'Date: (now)')
    .replace(/http:\/\/127\.0\.0\.1:\d+\//g, 'http://127.0.0.1:(port)/')
    .replace(/\d{14}(\.\d{1,4})?[-+]\d{4}/g, '(time)')
    .replace(/(\|(?:ACK\^V04\^ACK|RSP\^K11\^RSP_K11)\|)[0-9a-f]{20}\|/g, '$1(id)|')
    .replace(/([A-Z][A-Za-z]+\/)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '$1(id)')
    // The record's id in an RSP's PID-3 (the registry's own id, type SR).
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\^\^\^IIS\^SR)/g, '(id)$1');
}
