// Group.member names patients: a caller acting for an organization must not learn that a child
// whose data sharing is No (or Unknown) belongs to a Group. The caller-scoped store shows such a
// caller each Group without those members (tagged SUBSETTED, `quantity` lowered to match), and
// when that caller writes the Group back (PUT, PATCH of what it saw) it puts them back, so the
// membership it could not see is kept rather than lost.
import type { Group, GroupMember, Resource } from '@medplum/fhirtypes';
import type { ResourceRecord } from '../store/store.js';
import type { AccessPolicy } from './access.js';
import { localReference } from './data-sharing.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

function hiddenMember(member: GroupMember, policy: AccessPolicy): boolean {
  const patient = localReference('Patient', member.entity?.reference);
  return patient !== undefined && !policy.visible({ resourceType: 'Patient', id: patient.slice('Patient/'.length) });
}

/** Whether Groups need this treatment for the caller: only organizations hiding someone. */
export function hidesGroupMembers(policy: AccessPolicy): boolean {
  return policy.kind === 'organization' && policy.restricts;
}

/**
 * True when a Group query names a hidden patient (`Group?member=Patient/7`): it must match nothing,
 * or which Groups came back would tell the caller the child's memberships. Reference values are
 * stored and compiled as whole strings, so the hidden reference appears quoted in the filter.
 */
export function asksAboutHiddenMember(filter: unknown, policy: AccessPolicy): boolean {
  const hidden = policy.hiddenPatients ?? [];
  if (hidden.length === 0) return false;
  const text = JSON.stringify(filter);
  return hidden.some((ref) => text.includes(`"${ref}"`));
}

/** The record as the caller may see it: a Group without its hidden members (a copy), else unchanged. */
export function withoutHiddenMembers(record: ResourceRecord, policy: AccessPolicy): ResourceRecord {
  if (record.resourceType !== 'Group') return record;
  const group = (record.resource ?? parseStored(record)) as Group | undefined;
  if (!group?.member?.some((m) => hiddenMember(m, policy))) return record;
  const member = group.member.filter((m) => !hiddenMember(m, policy));
  const removed = group.member.length - member.length;
  const shown: Group = {
    ...group,
    meta: { ...group.meta, tag: [...(group.meta?.tag ?? []).filter((t) => t.code !== SUBSETTED.code || t.system !== SUBSETTED.system), SUBSETTED] },
    ...(member.length > 0 ? { member } : { member: undefined }),
    ...(group.quantity !== undefined ? { quantity: Math.max(0, group.quantity - removed) } : {}),
  };
  if (shown.member === undefined) delete shown.member;
  // The stored JSON is the whole Group: a response must not copy it.
  const { json: _json, jsonBytes: _bytes, ...rest } = record;
  return { ...rest, resource: shown };
}

/**
 * The Group a restricted caller writes, with the members of the stored version it could not see
 * put back (and the SUBSETTED tag its copy carried taken off). Undefined when nothing changes.
 */
export function withHiddenMembersKept(written: Resource, stored: Resource | undefined, policy: AccessPolicy): Group | undefined {
  if (written.resourceType !== 'Group' || stored?.resourceType !== 'Group') return undefined;
  const hidden = ((stored as Group).member ?? []).filter((m) => hiddenMember(m, policy));
  const group = written as Group;
  const tagged = group.meta?.tag?.some((t) => t.code === SUBSETTED.code && t.system === SUBSETTED.system) ?? false;
  if (hidden.length === 0 && !tagged) return undefined;
  const present = new Set((group.member ?? []).map((m) => m.entity?.reference));
  const restored = hidden.filter((m) => !present.has(m.entity?.reference));
  const tag = group.meta?.tag?.filter((t) => t.code !== SUBSETTED.code || t.system !== SUBSETTED.system);
  const kept: Group = {
    ...group,
    ...(group.meta ? { meta: { ...group.meta, tag: tag && tag.length > 0 ? tag : undefined } } : {}),
    ...(restored.length > 0 || group.member ? { member: [...(group.member ?? []), ...restored] } : {}),
    ...(group.quantity !== undefined ? { quantity: group.quantity + restored.length } : {}),
  };
  if (kept.meta && kept.meta.tag === undefined) delete kept.meta.tag;
  return kept;
}

function parseStored(record: ResourceRecord): Resource | undefined {
  const bytes = record.jsonBytes;
  const text = record.json ?? (bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : undefined);
  return text === undefined ? undefined : (JSON.parse(text) as Resource);
}
