// Tests' POST /hl7v2: the answer's status, text and parsed message (test files only).
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
