// The search values of an AuditEvent built by buildAuditEvent, computed straight from its few known
// fields instead of evaluating every AuditEvent SearchParameter (extractSearchIndex: ~90–110 µs of
// CPU per event, most of it folding the same constant display texts again; this: ~20 µs; one event
// is written per read).
// The values are exactly what extractSearchIndex gives (search-values.test.ts compares both over
// every interaction and caller shape); the normalisation itself (token entries, reference forms,
// date ranges) is extract.ts's, with the token entries of each Coding memoised (the codings of an
// audit trail are a small fixed set). An event with anything this does not know (other elements, a
// reference that is not a plain `Type/id`) gets extractSearchIndex.
import type { AuditEvent, Coding } from '@medplum/fhirtypes';
import { extractSearchIndex, referenceForms, tokenEntries, tokenSortKey, type TokenEntry } from '../search/extract.js';
import { dateRange } from '../search/util.js';
import type { SearchIndex } from '../store/store.js';

const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}$/;
/** Elements buildAuditEvent sets; anything else goes to the generic extractor. */
const KNOWN_KEYS = new Set(['resourceType', 'id', 'type', 'subtype', 'action', 'recorded', 'outcome', 'outcomeDesc', 'agent', 'source', 'entity']);
const KNOWN_AGENT_KEYS = new Set(['type', 'who', 'altId', 'requestor']);
const KNOWN_ENTITY_KEYS = new Set(['what', 'type', 'role', 'query', 'detail']);
const MEMO_MAX = 1000;
const codingMemo = new Map<string, Memo>();

/** extractSearchIndex(event), without FHIRPath for the AuditEvents buildAuditEvent makes. */
export function auditSearchIndex(event: AuditEvent): SearchIndex {
  return directAuditSearchIndex(event) ?? extractSearchIndex(event);
}

/** The search values of an event buildAuditEvent made; undefined for any other shape. */
export function directAuditSearchIndex(event: AuditEvent): SearchIndex | undefined {
  if (!isKnownShape(event)) return undefined;
  const agents = event.agent ?? [];
  const entities = event.entity ?? [];
  const index: SearchIndex = {};
  const sort: Record<string, string> = {};
  const tokens = (code: string, entries: TokenEntry[]) => {
    if (entries.length === 0) return;
    index[code] = entries;
    const key = tokenSortKey(entries);
    if (key !== undefined) sort[code] = key;
  };
  const references = (code: string, refs: string[]) => {
    // A Set keeps the first-seen order: the same list as includes() gave, without its n² cost
    // (a transaction's event names every entry).
    const seen = new Set<string>();
    for (const ref of refs) for (const f of referenceForms(ref)) seen.add(f);
    if (seen.size === 0) return;
    const out = [...seen];
    index[code] = out;
    sort[code] = out[0];
  };
  const agentRefs = agents.flatMap((a) => (a.who?.reference ? [a.who.reference] : []));
  const entityRefs = entities.flatMap((e) => (e.what?.reference ? [e.what.reference] : []));
  // `patient` is `agent.who.where(resolve() is Patient) | entity.what.where(resolve() is Patient)`:
  // for a relative reference, resolve() gives the type it names.
  const patientRefs = [...agentRefs, ...entityRefs].filter((ref) => RELATIVE_REF.exec(ref)?.[1] === 'Patient');

  // In the order of the AuditEvent SearchParameters (as extractSearchIndex writes them).
  if (event.action) tokens('action', [{ c: event.action }]);
  references('agent', agentRefs);
  tokens('altid', distinct(agents.flatMap((a) => (a.altId ? [{ c: a.altId }] : []))));
  const date = event.recorded ? dateRange(event.recorded) : undefined;
  if (date) {
    index.date = { lo: date.lo, hi: date.hi };
    sort.date = date.lo;
  }
  references('entity', entityRefs);
  tokens('entity-role', codingEntries(entities.flatMap((e) => (e.role ? [e.role] : []))));
  tokens('entity-type', codingEntries(entities.flatMap((e) => (e.type ? [e.type] : []))));
  if (event.outcome) tokens('outcome', [{ c: event.outcome }]);
  references('patient', patientRefs);
  if (event.source?.site) tokens('site', [{ c: event.source.site }]);
  tokens('subtype', codingEntries(event.subtype ?? []));
  if (event.type) tokens('type', codingEntries([event.type]));
  if (Object.keys(sort).length > 0) index._sort = sort;
  return index;
}

/** Whether an event holds only what buildAuditEvent writes (else the generic extractor runs). */
function isKnownShape(event: AuditEvent): boolean {
  for (const key in event) if (!KNOWN_KEYS.has(key)) return false;
  if (event.source && (event.source.observer?.reference !== undefined || Object.keys(event.source).some((k) => k !== 'site' && k !== 'observer' && k !== 'type'))) {
    return false;
  }
  for (const agent of event.agent ?? []) {
    for (const key in agent) if (!KNOWN_AGENT_KEYS.has(key)) return false;
    if (agent.who?.reference !== undefined && !RELATIVE_REF.test(agent.who.reference)) return false;
  }
  for (const entity of event.entity ?? []) {
    for (const key in entity) if (!KNOWN_ENTITY_KEYS.has(key)) return false;
    if (entity.what?.reference !== undefined && !RELATIVE_REF.test(entity.what.reference)) return false;
  }
  return true;
}

/** Token entries of codings in order, without repeats (as extract.ts's tokenEntries over all of them). */
function codingEntries(codings: Coding[]): TokenEntry[] {
  const out: TokenEntry[] = [];
  const seen = new Set<string>();
  for (const coding of codings) {
    const { entries, keys } = memoised(coding);
    for (let i = 0; i < entries.length; i++) {
      if (seen.has(keys[i])) continue;
      seen.add(keys[i]);
      out.push(entries[i]);
    }
  }
  return out;
}

/**
 * tokenEntries of one Coding, by the three fields it reads. The entries are frozen and shared
 * between events (the store only serialises them; a change would throw instead of spreading).
 */
function memoised(coding: Coding): Memo {
  const key = `${part(coding.system)}\u0000${part(coding.code)}\u0000${part(coding.display)}`;
  let memo = codingMemo.get(key);
  if (!memo) {
    const entries = tokenEntries([{ type: 'Coding', value: { system: coding.system, code: coding.code, display: coding.display } }]).map((e) => Object.freeze(e));
    memo = { entries, keys: entries.map(entryKey) };
    if (codingMemo.size >= MEMO_MAX) codingMemo.clear();
    codingMemo.set(key, memo);
  }
  return memo;
}

interface Memo {
  entries: TokenEntry[];
  /** One string per entry, equal for equal entries (extract.ts dedupes by JSON text). */
  keys: string[];
}

function part(value: unknown): string {
  return value === undefined ? '\u0001' : String(value);
}

function entryKey(e: TokenEntry): string {
  return JSON.stringify(e);
}

function distinct(entries: TokenEntry[]): TokenEntry[] {
  const seen = new Set<string>();
  const out: TokenEntry[] = [];
  for (const e of entries) {
    const key = entryKey(e);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
