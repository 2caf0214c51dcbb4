// Tests' POST /hl7v2: the answer's status, text and parsed message (test files only).
import net from 'node:net';
import type { Hl7Message } from '@medplum/core';
import type { TestServer } from '../../test/helpers/server.js';
import { parseMessage } from './er7.js';

export async function postHl7v2(server: TestServer, message: string, token = server.token()): Promise<{ status: number; text: string; msg: Hl7Message }> {
  const res = await fetch(`${server.url}/hl7v2`, {
    method: 'POST',
    headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${token}` },
    body: message,
  });
  const text = await res.text();
  return { status: res.status, text, msg: parseMessage(text, { maxBytes: 1e7 }).message };
}

/**
 * The first HTTP answer on a loopback socket to `port` that sent `parts` (and nothing more, the
 * socket kept open: a body cut short stays unfinished): its head and its body (by Content-Length).
 * Fails after `ms` without one.
 */
export function firstAnswer(port: number, parts: Array<string | Buffer>, ms: number): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = received.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? NaN);
      if (received.length - end - 4 < length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ head, body: received.subarray(end + 4, end + 4 + length).toString('utf8') });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    for (const part of parts) socket.write(part);
  });
}
