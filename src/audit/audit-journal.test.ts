// The AuditLog's write-ahead journal: an event is in a DATA_DIR file from the moment it is recorded
// until the store holds it, so a process that dies with events queued loses none of them (the next
// start replays them); stored events leave the journal; a running process's journal is left alone.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseScopes } from '../auth/scopes.js';
import { loadDefinitions } from '../fhir/definitions.js';
import type { Logger } from '../logger.js';
import { EmbeddedStore } from '../store/embedded/embedded-store.js';
import type { Store } from '../store/store.js';
import type { AccessEvent } from './audit-event.js';
import { AuditJournal } from './audit-journal.js';
import { AuditLog } from './audit-log.js';

const SERVER = 'https://iis.example/fhir';
const logger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
let dir: string;
let store: EmbeddedStore;

beforeEach(async () => {
  loadDefinitions();
  dir = await mkdtemp(path.join(os.tmpdir(), 'iis-audit-journal-'));
  store = new EmbeddedStore({ dataDir: path.join(dir, 'store') });
  await store.init();
});

afterEach(async () => {
  await store.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const access = (requestId: string): AccessEvent => ({
  caller: { sub: 'nurse', scope: 'user/*.rs', scopes: parseScopes('user/*.rs') },
  interaction: 'read',
  resourceType: 'Patient',
  id: 'p-1',
  patientRefs: ['Patient/p-1'],
  outcome: 200,
  requestId,
});

/** A store that never answers a write: the events stay queued, as in the ms before a commit. */
function hanging(inner: Store): Store {
  const never = () => new Promise<never>(() => undefined);
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'write' || prop === 'transact') return never;
      return Reflect.get(target, prop, receiver);
    },
  });
}

const journalFiles = () => readdirSync(dir).filter((name) => name.startsWith('audit-journal-'));
const journalLines = () => journalFiles().flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n').filter(Boolean));

describe('audit journal', () => {
  it('events queued when the process dies are stored by the next start (none lost)', async () => {
    const dying = new AuditLog({ store: hanging(store), logger, serverUrl: SERVER, dataDir: dir, batchDelayMs: 0 });
    const ids = Array.from({ length: 40 }, (_, i) => dying.recordAccess(access(`r-${i}`)));
    // The process "dies": no flush, no close. What it had queued is only in the journal.
    expect(journalLines().map((line) => JSON.parse(line).id)).toEqual(ids);

    const next = new AuditLog({ store, logger, serverUrl: SERVER, dataDir: dir });
    await next.start();
    expect(await next.flush(5000)).toBe(true);
    for (const id of ids) expect((await store.read('AuditEvent', id))?.resource?.id, id).toBe(id);
    expect(await store.count('AuditEvent', {})).toBe(40);
    await next.close();
    expect(journalFiles()).toEqual([]);
  });

  it('a stored event leaves the journal: at idle it is empty, and a clean close removes it', async () => {
    const audit = new AuditLog({ store, logger, serverUrl: SERVER, dataDir: dir, batchDelayMs: 0 });
    for (let i = 0; i < 10; i++) audit.recordAccess(access(`s-${i}`));
    expect(journalLines().length).toBe(10);
    expect(await audit.flush(5000)).toBe(true);
    expect(journalLines()).toEqual([]);
    await audit.close();
    expect(journalFiles()).toEqual([]);
  });

  it('a full file is replaced by a new one and removed once its events are stored', async () => {
    const journal = new AuditJournal(dir, logger, 1_000);
    const line = JSON.stringify({ resourceType: 'AuditEvent', id: 'x', text: 'y'.repeat(400) });
    const first = [journal.append(line)!, journal.append(line)!, journal.append(line)!];
    const second = journal.append(line)!;
    expect(first[0]).toBe(first[2]);
    expect(second).not.toBe(first[0]);
    expect(journalFiles().length).toBe(2);
    for (const segment of first) journal.release(segment);
    expect(journalFiles()).toEqual([path.basename(second.file)]);
    journal.release(second);
    expect(readFileSync(second.file, 'utf8')).toBe('');
    journal.close();
    expect(journalFiles()).toEqual([]);
  });

  it('the journal of a process still running (a CLI next to the server) is not replayed; a dead one\'s is', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      const event = JSON.stringify({ resourceType: 'AuditEvent', id: 'held' });
      writeFileSync(path.join(dir, `audit-journal-${sleeper.pid}-1-1-1.ndjson`), `${event}\n`);
      const journal = new AuditJournal(dir, logger);
      expect(journal.orphans()).toEqual([]);
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.on('exit', resolve));
      expect(journal.orphans()).toEqual([path.join(dir, `audit-journal-${sleeper.pid}-1-1-1.ndjson`)]);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});
