// Data-sharing status from the patient's privacy Consents (CONTRACT.md "Data sharing"): the newest
// decides; active+permit Yes, active+deny No, proposed Unknown, none Yes. The order and the
// provision periods follow the registry's reading (src/consent/data-sharing.ts), so the record
// shows the status the registry applies.
import type { Bundle, Consent, Patient } from './fhir-types';

export type SharingStatus = 'Yes' | 'No' | 'Unknown';
export const PRIVACY_SCOPE = { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' };
export const PRIVACY_CATEGORY = { system: 'http://loinc.org', code: '59284-0' };

export function isPrivacyConsent(c: Consent): boolean {
  return (
    (c.scope?.coding ?? []).some((x) => x.code === PRIVACY_SCOPE.code) &&
    (c.category ?? []).some((cat) => (cat.coding ?? []).some((x) => x.code === PRIVACY_CATEGORY.code))
  );
}

export function consentStatus(c: Consent): SharingStatus | undefined {
  if (c.status === 'proposed') return 'Unknown';
  if (c.status !== 'active') return undefined;
  if (c.provision?.type === 'deny') return 'No';
  if (c.provision?.type === 'permit') return 'Yes';
  return undefined;
}

/**
 * Newest first, as the registry orders them: by dateTime, never later than the moment the Consent
 * was stored (a Consent dated in the future would otherwise stay on top), then meta.lastUpdated.
 * Instants are compared, not strings (2024-03-01T10:00:00+05:00 is before 2024-03-01T09:00:00Z).
 */
export function sharingHistory(consents: Consent[]): Consent[] {
  const byNewest = (a: Consent, b: Consent) => decisionTime(b) - decisionTime(a) || instant(b.meta?.lastUpdated) - instant(a.meta?.lastUpdated);
  return consents.filter(isPrivacyConsent).sort(byNewest);
}

/** The status the registry applies now: the newest Consent in force decides (a provision outside its period takes no part). */
export function currentSharing(consents: Consent[], now: Date = new Date()): SharingStatus {
  for (const c of sharingHistory(consents)) {
    const status = consentStatus(c);
    if (status && (status === 'Unknown' || inForce(c.provision?.period, now.getTime()))) return status;
  }
  return 'Yes';
}

function decisionTime(c: Consent): number {
  const stated = instant(c.dateTime);
  const stored = instant(c.meta?.lastUpdated);
  return stored !== Number.NEGATIVE_INFINITY && stated > stored ? stored : stated;
}

function instant(value: string | undefined): number {
  if (!value) return Number.NEGATIVE_INFINITY;
  const t = Date.parse(value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

function inForce(period: { start?: string; end?: string } | undefined, now: number): boolean {
  if (!period) return true;
  if (period.start && instant(period.start) > now) return false;
  if (period.end) {
    const start = instant(period.end);
    const d = new Date(start);
    const end =
      start === Number.NEGATIVE_INFINITY ? Number.POSITIVE_INFINITY
      : period.end.length === 4 ? Date.UTC(d.getUTCFullYear() + 1, 0, 1)
      : period.end.length === 7 ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
      : period.end.length === 10 ? start + 86_400_000
      : start + 1;
    if (end <= now) return false;
  }
  return true;
}

export function newSharingConsent(patientId: string, choice: 'Yes' | 'No', organization: string | undefined): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [PRIVACY_SCOPE] },
    category: [{ coding: [PRIVACY_CATEGORY] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: new Date().toISOString(),
    ...(organization ? { organization: [{ reference: organization }] } : {}),
    policyRule: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: choice === 'Yes' ? 'OPTIN' : 'OPTOUT' }],
    },
    provision: { type: choice === 'Yes' ? 'permit' : 'deny' },
  };
}

/** Records of one child looked at for its data-sharing choices, at most (a merge chain is short). */
const MAX_PERSON_RECORDS = 20;
const SAME_PERSON = new Set(['replaced-by', 'replaces']);

function sameRecordLinks(patient: Patient | undefined): string[] {
  return (patient?.link ?? [])
    .filter((l) => l.type !== undefined && SAME_PERSON.has(l.type))
    .map((l) => /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(l.other?.reference ?? '')?.[1])
    .filter((id): id is string => id !== undefined);
}

/**
 * The ids of the child's records whose privacy Consents count (the registry's reading,
 * src/consent/sharing-index.ts): this one and every record joined to it, in either direction and
 * through chains, by a replaced-by / replaces link (a `$merge`), as the user may read them.
 */
export async function personRecordIds(api: { get<T>(path: string): Promise<T> }, patientId: string): Promise<string[]> {
  const known = new Map<string, Patient | undefined>([[patientId, undefined]]);
  const queue = [patientId];
  while (queue.length > 0 && known.size < MAX_PERSON_RECORDS) {
    const id = queue.shift() as string;
    let self = known.get(id);
    if (!self) {
      self = await api.get<Patient>(`Patient/${id}`).catch(() => undefined);
      known.set(id, self);
    }
    const linking = await api.get<Bundle<Patient>>(`Patient?link=Patient/${id}&_count=100`).catch(() => undefined);
    const neighbours = new Map<string, Patient | undefined>(sameRecordLinks(self).map((other) => [other, undefined]));
    for (const e of linking?.entry ?? []) {
      const p = e.resource as Patient | undefined;
      if (p?.id && sameRecordLinks(p).includes(id)) neighbours.set(p.id, p);
    }
    for (const [other, found] of neighbours) {
      if (known.has(other) || known.size >= MAX_PERSON_RECORDS) continue;
      known.set(other, found);
      queue.push(other);
    }
  }
  return [...known.keys()];
}
