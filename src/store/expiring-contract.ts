// The contract of short-lived records (expiring.ts) every store keeps: the embedded store, MongoDB
// and the in-memory version call runExpiringContract with a factory. Each test uses a namespace
// of its own, so the suite can run against a shared database.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExpiringRecords } from './expiring.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ExpiringSubject {
  /** The records of a fresh namespace. */
  records(namespace: string): ExpiringRecords;
  dispose(): Promise<void>;
}

export function runExpiringContract(name: string, open: () => Promise<ExpiringSubject>): void {
  describe(`short-lived records (${name})`, () => {
    let subject: ExpiringSubject;
    const fresh = () => subject.records(`t-${randomUUID().slice(0, 8)}`);
    beforeAll(async () => {
      subject = await open();
    });
    afterAll(async () => {
      await subject?.dispose();
    });

    it('put, get, replace and remove; namespaces are apart; what comes back is a copy', async () => {
      const records = fresh();
      const other = fresh();
      const hour = Date.now() + 3_600_000;
      // Keys of the value are anyone's: dots, dollars, URLs (oidc-provider keys grants by the FHIR base).
      const value = { a: 1, nested: { list: ['x', 2, null, true] }, 'http://h.example:8080/fhir': { $x: 'a.b' } };
      await records.put({ key: 'k1', value, expiresAt: hour, lookups: { grant: 'g1' } });
      value.a = 99;
      const got = await records.get('k1');
      expect(got).toEqual({ key: 'k1', value: { a: 1, nested: { list: ['x', 2, null, true] }, 'http://h.example:8080/fhir': { $x: 'a.b' } }, expiresAt: hour, lookups: { grant: 'g1' } });
      (got?.value as { a: number }).a = 5;
      expect((await records.get('k1'))?.value).toMatchObject({ a: 1 });
      expect(await other.get('k1')).toBeUndefined();
      expect(await records.get('k2')).toBeUndefined();
      await records.put({ key: 'k1', value: { b: 2 }, expiresAt: hour + 1 });
      expect(await records.get('k1')).toEqual({ key: 'k1', value: { b: 2 }, expiresAt: hour + 1 });
      // The replaced record's lookup is gone with it.
      expect(await records.findBy('grant', 'g1')).toBeUndefined();
      await records.remove('k1');
      await records.remove('k1');
      expect(await records.get('k1')).toBeUndefined();
    });

    it('lookups: findBy finds a live record, removeBy removes every record (expired too) holding the value', async () => {
      const records = fresh();
      const later = Date.now() + 3_600_000;
      await records.put({ key: 'session', value: { n: 1 }, expiresAt: later, lookups: { uid: 'u1' } });
      await records.put({ key: 'code', value: { n: 2 }, expiresAt: later, lookups: { grant: 'g1' } });
      await records.put({ key: 'refresh', value: { n: 3 }, expiresAt: later, lookups: { grant: 'g1', uid: 'u2' } });
      await records.put({ key: 'other', value: { n: 4 }, expiresAt: later, lookups: { grant: 'g2' } });
      await records.put({ key: 'old', value: { n: 5 }, expiresAt: Date.now() - 1, lookups: { grant: 'g1' } });
      expect((await records.findBy('uid', 'u1'))?.key).toBe('session');
      expect((await records.findBy('uid', 'u2'))?.key).toBe('refresh');
      expect(await records.findBy('uid', 'u3')).toBeUndefined();
      expect(['code', 'refresh']).toContain((await records.findBy('grant', 'g1'))?.key);
      expect(await records.removeBy('grant', 'g1')).toBe(3);
      expect(await records.get('code')).toBeUndefined();
      expect(await records.get('refresh')).toBeUndefined();
      expect(await records.findBy('uid', 'u2')).toBeUndefined();
      expect(await records.findBy('grant', 'g1')).toBeUndefined();
      expect((await records.get('other'))?.value).toEqual({ n: 4 });
      expect((await records.get('session'))?.value).toEqual({ n: 1 });
      expect(await records.removeBy('grant', 'g1')).toBe(0);
    });

    it('listBy gives every live record holding a lookup value (not expired ones, not other values), up to a limit', async () => {
      const records = fresh();
      const later = Date.now() + 3_600_000;
      await records.put({ key: 'a', value: { n: 1 }, expiresAt: later, lookups: { kind: 'revoked' } });
      await records.put({ key: 'b', value: { n: 2 }, expiresAt: later, lookups: { kind: 'revoked', grant: 'g' } });
      await records.put({ key: 'c', value: { n: 3 }, expiresAt: later, lookups: { kind: 'other' } });
      await records.put({ key: 'd', value: { n: 4 }, expiresAt: Date.now() - 1, lookups: { kind: 'revoked' } });
      await records.put({ key: 'e', value: { n: 5 }, expiresAt: later });
      const listed = await records.listBy('kind', 'revoked');
      expect(listed.map((r) => r.key).sort()).toEqual(['a', 'b']);
      expect(listed.find((r) => r.key === 'b')).toEqual({ key: 'b', value: { n: 2 }, expiresAt: later, lookups: { kind: 'revoked', grant: 'g' } });
      expect(await records.listBy('kind', 'revoked', 1)).toHaveLength(1);
      expect(await records.listBy('kind', 'none')).toEqual([]);
      // A record replaced without the lookup is no longer listed.
      await records.put({ key: 'a', value: { n: 6 }, expiresAt: later });
      expect((await records.listBy('kind', 'revoked')).map((r) => r.key)).toEqual(['b']);
    });

    it('update sets fields of a live record and keeps its expiry and lookups; false for none', async () => {
      const records = fresh();
      const later = Date.now() + 3_600_000;
      await records.put({ key: 'code', value: { scope: 'openid', n: 1 }, expiresAt: later, lookups: { grant: 'g' } });
      expect(await records.update('code', { consumed: 1765000000 })).toBe(true);
      expect(await records.update('code', { n: 2, extra: { 'a.b': [1] } })).toBe(true);
      expect(await records.get('code')).toEqual({ key: 'code', value: { scope: 'openid', n: 2, consumed: 1765000000, extra: { 'a.b': [1] } }, expiresAt: later, lookups: { grant: 'g' } });
      // A put replaces the value whole, fields set by update included.
      await records.put({ key: 'code', value: { scope: 'x' }, expiresAt: later });
      expect((await records.get('code'))?.value).toEqual({ scope: 'x' });
      expect(await records.update('absent', { consumed: 1 })).toBe(false);
      expect(await records.get('absent')).toBeUndefined();
      await expect(records.update('code', { 'a.b': 1 })).rejects.toThrow(/field/);
    });

    it('an expired record is never returned, updated or found; sweep removes expired ones only, earliest first, up to its limit', async () => {
      const records = fresh();
      const soon = Date.now() + 300;
      await records.put({ key: 'short-2', value: { n: 2 }, expiresAt: soon + 10, lookups: { uid: 's2' } });
      await records.put({ key: 'short-1', value: { n: 1 }, expiresAt: soon, lookups: { uid: 's1' } });
      await records.put({ key: 'long', value: { n: 3 }, expiresAt: Date.now() + 3_600_000, lookups: { uid: 'l' } });
      expect((await records.get('short-1'))?.value).toEqual({ n: 1 });
      expect(await records.sweep()).toBe(0);
      await sleep(soon + 30 - Date.now());
      expect(await records.get('short-1')).toBeUndefined();
      expect(await records.findBy('uid', 's1')).toBeUndefined();
      expect(await records.update('short-1', { consumed: 1 })).toBe(false);
      expect(await records.sweep(1)).toBe(1);
      // The earliest went first: its lookup is gone; the other expired one is still there to sweep.
      expect(await records.removeBy('uid', 's1')).toBe(0);
      expect(await records.sweep()).toBe(1);
      expect(await records.removeBy('uid', 's2')).toBe(0);
      expect(await records.sweep()).toBe(0);
      expect((await records.get('long'))?.value).toEqual({ n: 3 });
      expect((await records.findBy('uid', 'l'))?.key).toBe('long');
    });

    it('a record put again with a later expiry lives on; one put with a past expiry is gone at once', async () => {
      const records = fresh();
      await records.put({ key: 'k', value: { n: 1 }, expiresAt: Date.now() + 200 });
      await records.put({ key: 'k', value: { n: 2 }, expiresAt: Date.now() + 3_600_000 });
      await sleep(250);
      expect(await records.sweep()).toBe(0);
      expect((await records.get('k'))?.value).toEqual({ n: 2 });
      await records.put({ key: 'gone', value: { n: 3 }, expiresAt: Date.now() - 1000 });
      expect(await records.get('gone')).toBeUndefined();
      expect(await records.sweep()).toBe(1);
    });

    it('take removes and returns a live record once: of concurrent takes only one gets it; none for expired or absent ones', async () => {
      const records = fresh();
      const later = Date.now() + 3_600_000;
      await records.put({ key: 'launch', value: { patient: 'p1' }, expiresAt: later, lookups: { grant: 'g' } });
      const takes = await Promise.all([records.take('launch'), records.take('launch'), records.take('launch')]);
      const got = takes.filter((t) => t !== undefined);
      expect(got).toEqual([{ key: 'launch', value: { patient: 'p1' }, expiresAt: later, lookups: { grant: 'g' } }]);
      expect(await records.get('launch')).toBeUndefined();
      expect(await records.findBy('grant', 'g')).toBeUndefined();
      expect(await records.take('launch')).toBeUndefined();
      expect(await records.take('absent')).toBeUndefined();
      await records.put({ key: 'old', value: { n: 1 }, expiresAt: Date.now() - 1 });
      expect(await records.take('old')).toBeUndefined();
    });

    it('refuses malformed records, lookups and namespaces', async () => {
      const records = fresh();
      await expect(records.put({ key: '', value: {}, expiresAt: Date.now() })).rejects.toThrow();
      await expect(records.put({ key: 'k', value: {}, expiresAt: Number.NaN })).rejects.toThrow();
      await expect(records.put({ key: 'k', value: {}, expiresAt: Date.now(), lookups: { 'a:b': 'x' } })).rejects.toThrow();
      await expect(records.findBy('uid', '')).rejects.toThrow();
      expect(() => subject.records('Bad Namespace')).toThrow();
    });
  });
}
