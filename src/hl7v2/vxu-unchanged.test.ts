// A further VXU for a child the registry holds, with the same demographics, adds no Patient version
// (the version read is only checked inside the store's write, WriteOp.verifyOnly); everything the
// submitter and the registry see is as when the record was written again: the ACK, the dose on the
// child, the AuditEvent, the outcome of a race with another writer. Changed demographics still
// write a version, and a client's own PUT or transaction always does (the marker is internal).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hl7Message } from '@medplum/core';
import type { AuditEvent, Patient } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { markUnchangedWritesNothing, unchangedWritesNothing } from '../fhir/request.js';
import { indexFor } from '../interactions/write-support.js';
import type { Store, WriteOp } from '../store/store.js';
import { hl7Date, order, pid, vxu, yearsAgo } from './test-messages.js';

const authority = (ns: string) => `https://iis-fhir-server.org/fhir/sid/hl7v2-authority/${ns}`;

/** Runs `beforeNextTransact` (once) when the server's next store.transact of a Patient starts, before it reaches the store. */
interface RacingStore {
  beforeNextTransact?: () => Promise<void>;
  transacts: number;
}

let server: TestServer;
let base: Store;
const racing: RacingStore = { transacts: 0 };

beforeAll(async () => {
  server = await startTestServer('embedded', {}, {
    wrapStore: (store) => {
      base = store;
      return new Proxy(store, {
        get(target, prop) {
          if (prop === 'transact') {
            return async (ops: WriteOp[]) => {
              // The messages' transactions (the audit log's batches of AuditEvents are not counted).
              if (!ops.some((op) => op.resourceType === 'Patient')) return target.transact(ops);
              racing.transacts += 1;
              const hook = racing.beforeNextTransact;
              racing.beforeNextTransact = undefined;
              if (hook) await hook();
              return target.transact(ops);
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  });
});
afterAll(async () => {
  await server?.close();
});

async function post(message: string, requestId?: string): Promise<{ status: number; text: string; ack: Hl7Message }> {
  const res = await fetch(`${server.url}/hl7v2`, {
    method: 'POST',
    headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${server.token()}`, ...(requestId ? { 'x-request-id': requestId } : {}) },
    body: message,
  });
  const text = await res.text();
  return { status: res.status, text, ack: Hl7Message.parse(text) };
}
const msa = (ack: Hl7Message) => ack.getSegment('MSA')?.getField(1).toString() ?? '';

/** The ACK with MSH-7 (its time) and MSH-10 (its own control id) blanked: all else must be equal byte for byte. */
function withoutTimeAndControlId(ack: string): string {
  const [msh, ...rest] = ack.split('\r');
  const fields = msh.split('|');
  fields[6] = '';
  fields[9] = '';
  return [fields.join('|'), ...rest].join('\r');
}

async function patientOf(mrn: string): Promise<Patient> {
  const res = await server.fhir('GET', `Patient?identifier=${encodeURIComponent(`${authority('MYEHR')}|${mrn}`)}`);
  const found = (res.body.entry ?? []).map((e: { resource: Patient }) => e.resource);
  expect(found, mrn).toHaveLength(1);
  return found[0];
}
async function versionsOf(id: string): Promise<string[]> {
  const res = await server.fhir('GET', `Patient/${id}/_history`);
  return (res.body.entry ?? []).map((e: { resource: Patient }) => e.resource.meta?.versionId);
}
async function dosesOf(id: string): Promise<string[]> {
  const res = await server.fhir('GET', `Immunization?patient=Patient/${id}`);
  return (res.body.entry ?? []).map((e: { resource: { identifier?: Array<{ value?: string }> } }) => e.resource.identifier?.[0]?.value).sort();
}

describe('a further VXU with unchanged demographics', () => {
  // Each test its own child (name and birth date too: the create path's matching would merge lookalikes).
  const names = new Map<string, number>();
  const child = (mrn: string, extra: Partial<Parameters<typeof pid>[0]> = {}) => {
    if (!names.has(mrn)) names.set(mrn, names.size);
    const n = names.get(mrn)!;
    const [family, given] = [['Verde', 'Olivia'], ['Marsh', 'Ingrid'], ['Okonkwo', 'Ada'], ['Lindqvist', 'Tove'], ['Haddad', 'Rania'], ['Petrov', 'Mila']][n];
    return pid({ mrn, family, given, birth: yearsAgo(1 + n, 37 * n), sex: 'F', ...extra });
  };

  it('stores the dose on the child and adds no Patient version, no history entry, no lastUpdated change', async () => {
    expect(msa((await post(vxu({ pid: child('NOOP-1'), orders: [order({ filler: 'NOOP-1-A', cvx: '08', date: hl7Date(30) })] }))).ack)).toBe('AA');
    const before = await patientOf('NOOP-1');
    const history = await versionsOf(before.id!);

    const second = await post(vxu({ pid: child('NOOP-1'), orders: [order({ filler: 'NOOP-1-B', cvx: '20', date: hl7Date(2) })] }), 'noop-audit-1');
    expect(second.status, second.text).toBe(200);
    expect(msa(second.ack), second.text).toBe('AA');
    const after = await patientOf('NOOP-1');
    expect(after).toEqual(before);
    expect(await versionsOf(before.id!)).toEqual(history);
    expect(await dosesOf(before.id!)).toEqual(['NOOP-1-A', 'NOOP-1-B']);

    // The AuditEvent still names the child the message touched.
    await server.audit.flush(5000);
    const events = (await server.store.history({ resourceType: 'AuditEvent', count: 10_000 }))
      .map((r) => r.resource as AuditEvent)
      .filter((e) => e.entity?.some((x) => x.type?.code === 'XrequestId' && x.what?.identifier?.value === 'noop-audit-1'));
    expect(events).toHaveLength(1);
    expect(events[0].entity?.filter((x) => x.role?.code === '1').map((x) => x.what?.reference)).toEqual([`Patient/${before.id}`]);
  });

  it('answers the same ACK, byte for byte but MSH-7/10, as when the record is written again', async () => {
    // A multiple birth without its order: a warning on the Patient, so the ACK carries the
    // Patient entry's issues too (and a dose without lot number adds one of the dose's).
    const message = vxu({ pid: child('NOOP-2', { multiple: 'Y' }), orders: [order({ filler: 'NOOP-2-A', cvx: '08', date: hl7Date(30), lot: '' })] });
    const first = await post(message);
    expect(msa(first.ack), first.text).toBe('AE');
    const stored = await patientOf('NOOP-2');
    // Someone changes the record: the same message now writes a version (the path of every further message until now)…
    const changed = await server.fhir('PUT', `Patient/${stored.id}`, { body: { ...stored, gender: 'male' } });
    expect(changed.status, changed.text).toBe(200);
    const written = await post(message);
    const afterWrite = await patientOf('NOOP-2');
    expect(Number(afterWrite.meta?.versionId)).toBe(Number(changed.body.meta.versionId) + 1);
    // …and once more, with nothing left to change: no version.
    const verified = await post(message);
    expect((await patientOf('NOOP-2')).meta).toEqual(afterWrite.meta);

    expect(withoutTimeAndControlId(verified.text)).toBe(withoutTimeAndControlId(written.text));
    expect(verified.text.split('\r').length).toBeGreaterThan(3); // MSH, MSA and ERR segments
    expect(verified.text).toContain('|W|');
    expect(await dosesOf(stored.id!)).toEqual(['NOOP-2-A']);
  });

  it('changed demographics write a new version, as before', async () => {
    expect(msa((await post(vxu({ pid: child('NOOP-3'), orders: [order({ filler: 'NOOP-3-A', cvx: '08', date: hl7Date(30) })] }))).ack)).toBe('AA');
    const before = await patientOf('NOOP-3');
    const history = await versionsOf(before.id!);
    const moved = child('NOOP-3').replace('32 Prescott Street Ave^^Warwick^MA^02452', '7 Elm Road^^Lowell^MA^01850');
    expect(msa((await post(vxu({ pid: moved, orders: [order({ filler: 'NOOP-3-B', cvx: '20', date: hl7Date(2) })] }))).ack)).toBe('AA');
    const after = await patientOf('NOOP-3');
    expect(Number(after.meta?.versionId)).toBe(Number(before.meta?.versionId) + 1);
    expect(await versionsOf(before.id!)).toHaveLength(history.length + 1);
    expect(after.address?.map((a) => a.city)).toContain('Lowell');
    expect(await dosesOf(before.id!)).toEqual(['NOOP-3-A', 'NOOP-3-B']);
  });

  // Between the message's look-up and its commit another writer merges the child into another
  // record. Unchanged or changed demographics, the outcome is the one a failed If-Match has always
  // had: the version check fails inside the store's write, the message is retried, and the dose
  // lands on the surviving record; nothing lands on the merged-away one.
  for (const demographics of ['unchanged', 'changed'] as const) {
    it(`a merge between look-up and commit (${demographics} demographics): retried, the dose on the surviving record`, async () => {
      const mrn = `NOOP-RACE-${demographics}`;
      expect(msa((await post(vxu({ pid: child(mrn), orders: [order({ filler: `${mrn}-A`, cvx: '08', date: hl7Date(30) })] }))).ack)).toBe('AA');
      const source = await patientOf(mrn);
      let target = '';
      racing.beforeNextTransact = async () => {
        // What $merge leaves: the surviving record holds the child's identifiers, the source is inactive and replaced-by it.
        target = `${source.id}-survivor`;
        const { id: _id, meta: _meta, ...content } = source;
        const survivor = { ...content, id: target } as Patient;
        await base.write({ resourceType: 'Patient', id: target, resource: survivor, ifVersion: 'absent', index: indexFor(survivor) });
        const retired = { ...content, id: source.id, active: false, identifier: [], link: [{ other: { reference: `Patient/${target}` }, type: 'replaced-by' }] } as Patient;
        await base.write({ resourceType: 'Patient', id: source.id!, resource: retired, ifVersion: Number(source.meta?.versionId), index: indexFor(retired) });
      };
      const transactsBefore = racing.transacts;
      const pidNow = demographics === 'unchanged' ? child(mrn) : child(mrn, { sex: 'U' });
      const res = await post(vxu({ pid: pidNow, orders: [order({ filler: `${mrn}-B`, cvx: '20', date: hl7Date(2) })] }));
      expect(res.status, res.text).toBe(200);
      expect(msa(res.ack), res.text).toBe('AA');
      expect(racing.beforeNextTransact).toBeUndefined();
      expect(racing.transacts - transactsBefore, 'the failed attempt and its retry').toBe(2);
      expect(await dosesOf(target)).toEqual([`${mrn}-B`]);
      expect(await dosesOf(source.id!)).toEqual([`${mrn}-A`]);
      expect(await versionsOf(source.id!)).toEqual(['2', '1']);
      // The survivor was written by the merge (version 1); a message that changes nothing on it adds none.
      expect(await versionsOf(target)).toEqual(demographics === 'unchanged' ? ['1'] : ['2', '1']);
    });
  }
});

describe('the marker is internal: a client cannot ask for it', () => {
  it('does not survive JSON, so a Bundle from the wire never carries it', () => {
    const marked = markUnchangedWritesNothing({ method: 'PUT', url: 'Patient/x' });
    expect(unchangedWritesNothing(marked)).toBe(true);
    expect(JSON.stringify(marked)).toBe('{"method":"PUT","url":"Patient/x"}');
    expect(unchangedWritesNothing(JSON.parse(JSON.stringify(marked)) as object)).toBe(false);
    expect(unchangedWritesNothing(JSON.parse('{"unchangedWritesNothing":true,"Symbol(unchangedWritesNothing)":true,"verifyOnly":true}') as object)).toBe(false);
  });

  it('an unchanged PUT or transaction entry from a client writes a version as ever, whatever fields it adds', async () => {
    const created = await server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Client', given: ['Carla'] }], birthDate: '2019-02-03', gender: 'female' },
    });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    const put = await server.fhir('PUT', `Patient/${id}`, { body: created.body });
    expect(put.status, put.text).toBe(200);
    expect(put.body.meta.versionId).toBe('2');
    const forged = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: `Patient/${id}`,
          resource: put.body,
          verifyOnly: true,
          unchangedWritesNothing: true,
          request: { method: 'PUT', url: `Patient/${id}`, ifMatch: 'W/"2"', verifyOnly: true, unchangedWritesNothing: true, 'Symbol(unchangedWritesNothing)': true },
        },
      ],
    };
    const tx = await server.fhir('POST', '', { body: forged });
    expect(tx.status, tx.text).toBe(200);
    expect(tx.body.entry[0].response.etag).toBe('W/"3"');
    expect(await versionsOf(id)).toEqual(['3', '2', '1']);
  });
});
