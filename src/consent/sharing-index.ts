// Which patients are restricted (data sharing no or unknown), kept in memory and revalidated on
// every use against the newest Consent version and the newest Patient version in the store, so
// every server process sharing a store sees a change on its next request, and rebuilt when a
// provision period begins or ends (the status it gives changes then without any write).
//
// One child may have several records: a record merged away (`$merge`: active false, `link`
// replaced-by; the survivor links back with replaces; chains a → b → c) still holds the child's
// name, identifiers and birth date. The status is the person's, not the record's: the Consents of
// every record of the person count together, the newest deciding (CONTRACT.md "Data sharing"), and
// the status applies to each record. So a No recorded on the survivor after the merge hides the
// merged-away records too, and one recorded on a merged-away record counts for the survivor.
import type { Consent, Patient } from '@medplum/fhirtypes';
import type { ResourceRecord, Store } from '../store/store.js';
import { consentPatient, dataSharingOf, isDataSharingConsent, localReference, nextPeriodBoundary, type DataSharing } from './data-sharing.js';

interface ConsentSnapshot {
  stamp: string;
  byPatient: Map<string, Consent[]>;
}

/** The same-person links between Patient records (`Patient/<id>` → the records it names as replaced-by / replaces). */
interface LinkSnapshot {
  stamp: string;
  /** lastUpdated of the newest Patient version read into `links` (the next update reads versions from there). */
  since: string | undefined;
  /** When the linked records were last read in full (epoch ms). */
  readAt: number;
  links: Map<string, string[]>;
}

interface Snapshot {
  consentStamp: string;
  linkStamp: string;
  /** What the map was computed from: when neither changed (a Patient written without a link change), it is kept. */
  byPatient: Map<string, Consent[]>;
  links: Map<string, string[]>;
  /** Only restricted patients (`Patient/<id>` → sharing: no, unknown, or yes with denied organizations); everyone else is "yes". */
  restricted: Map<string, DataSharing>;
  /** When a provision period of some Consent begins or ends (epoch ms): the map is stale from then. */
  validUntil: number;
}

const PAGE = 1000;
/** Patient versions read to bring the link map up to date; more than this since the last look: read the linked records again. */
const LINK_UPDATE_LIMIT = 500;
/**
 * The linked records are read in full again when the last full read is older than this: another
 * server process sharing the store may commit a version stamped a moment before the newest one
 * this process saw, which reading the versions since then would miss.
 */
const FULL_READ_EVERY_MS = 60_000;
/** Link types that say two Patient records are the same person (FHIR R4 link-type). */
const SAME_PERSON = new Set(['replaced-by', 'replaces']);
/** Every relative Patient reference the search index holds for `link` (`Patient/` ≤ value < `Patient0`). */
const HAS_PATIENT_LINK = { 's.link': { $gte: 'Patient/', $lt: 'Patient0' } };

export class SharingIndex {
  private snapshot: Snapshot | undefined;
  private consents: ConsentSnapshot | undefined;
  private linkSnapshot: LinkSnapshot | undefined;
  private building: Promise<Snapshot> | undefined;

  constructor(private readonly store: Store) {}

  /** The current restricted-patient map (rebuilt when any Consent or Patient changed since the last build). */
  async restricted(): Promise<Map<string, DataSharing>> {
    const [consentStamp, linkStamp] = await Promise.all([this.newestVersion('Consent'), this.newestVersion('Patient')]);
    const current = this.snapshot;
    if (current && current.consentStamp === consentStamp && current.linkStamp === linkStamp && Date.now() < current.validUntil) return current.restricted;
    this.building ??= this.build(consentStamp, linkStamp).finally(() => {
      this.building = undefined;
    });
    const built = await this.building;
    this.snapshot = built;
    return built.restricted;
  }

  async sharingOf(patientRef: string): Promise<DataSharing> {
    return (await this.restricted()).get(patientRef) ?? { status: 'yes', exemptOrganizations: [] };
  }

  /**
   * The newest version of a type identifies the state of all its resources (history is
   * append-only). Its place in history is enough: reading the version itself (a Patient, written by
   * nearly every VXU) cost ~60–90 µs per request for a record nobody looked at.
   */
  private async newestVersion(resourceType: string): Promise<string> {
    const newest = await this.store.newestVersion(resourceType);
    return newest ? `${newest.lastUpdated}|${newest.id}|${newest.versionId}` : 'none';
  }

  private async build(consentStamp: string, linkStamp: string): Promise<Snapshot> {
    const [byPatient, links] = await Promise.all([this.consentsByPatient(consentStamp), this.sameRecordLinks(linkStamp)]);
    const previous = this.snapshot;
    if (previous && previous.byPatient === byPatient && previous.links === links && Date.now() < previous.validUntil) {
      return { ...previous, consentStamp, linkStamp };
    }
    const now = new Date();
    const restricted = new Map<string, DataSharing>();
    let validUntil = Number.POSITIVE_INFINITY;
    for (const records of personsOf(byPatient, links)) {
      const consents = records.flatMap((r) => byPatient.get(r) ?? []);
      const sharing = dataSharingOf(consents, now);
      if (sharing.status !== 'yes' || (sharing.deniedOrganizations?.length ?? 0) > 0) for (const r of records) restricted.set(r, sharing);
      validUntil = Math.min(validUntil, nextPeriodBoundary(consents, now));
    }
    return { consentStamp, linkStamp, byPatient, links, restricted, validUntil };
  }

  private async consentsByPatient(stamp: string): Promise<Map<string, Consent[]>> {
    if (this.consents?.stamp === stamp) return this.consents.byPatient;
    const byPatient = new Map<string, Consent[]>();
    let skip = 0;
    for (;;) {
      const page = await this.store.search('Consent', { filter: {}, sort: [{ field: '_id', direction: 1 }], limit: PAGE, skip });
      for (const record of page) {
        const consent = record.resource as Consent;
        if (!isDataSharingConsent(consent)) continue;
        const ref = consentPatient(consent) as string;
        const list = byPatient.get(ref) ?? [];
        list.push(consent);
        byPatient.set(ref, list);
      }
      if (page.length < PAGE) break;
      skip += PAGE;
    }
    this.consents = { stamp, byPatient };
    return byPatient;
  }

  /**
   * The same-person links of every Patient record that has one. Patients are written far more
   * often than they are merged: after the first read only the versions written since are looked
   * at (one short history read), and the linked records are read again only after many writes.
   */
  private async sameRecordLinks(stamp: string): Promise<Map<string, string[]>> {
    const known = this.linkSnapshot;
    if (known?.stamp === stamp) return known.links;
    if (known?.since !== undefined && Date.now() - known.readAt < FULL_READ_EVERY_MS) {
      // As stored text where the store can give it: a version whose text does not name `link` has
      // none and is not parsed (nearly every Patient version: a VXU's child, a demographics update).
      const versions = await this.store.history({ resourceType: 'Patient', since: known.since, count: LINK_UPDATE_LIMIT + 1, raw: true });
      if (versions.length <= LINK_UPDATE_LIMIT) {
        let links = known.links;
        // Newest first: the first version seen of each record is its current one.
        const seen = new Set<string>();
        for (const version of versions) {
          if (seen.has(version.id)) continue;
          seen.add(version.id);
          const ref = `Patient/${version.id}`;
          const others = version.deleted ? [] : sameRecordLinksOf(linkedPatientOf(version));
          if (sameList(links.get(ref) ?? [], others)) continue;
          // A new map only when a link changed, so an unchanged one tells build() to keep its answer.
          if (links === known.links) links = new Map(known.links);
          if (others.length > 0) links.set(ref, others);
          else links.delete(ref);
        }
        this.linkSnapshot = { ...known, stamp, since: versions[0]?.lastUpdated ?? known.since, links };
        return links;
      }
    }
    const readAt = Date.now();
    const links = new Map<string, string[]>();
    let newest: string | undefined = stamp === 'none' ? undefined : stamp.split('|')[0];
    let skip = 0;
    for (;;) {
      const page = await this.store.search('Patient', { filter: HAS_PATIENT_LINK, sort: [{ field: '_id', direction: 1 }], limit: PAGE, skip });
      for (const record of page) {
        const others = sameRecordLinksOf(record.resource as Patient | undefined);
        if (others.length > 0) links.set(`Patient/${record.id}`, others);
        if (newest === undefined || record.lastUpdated > newest) newest = record.lastUpdated;
      }
      if (page.length < PAGE) break;
      skip += PAGE;
    }
    this.linkSnapshot = { stamp, since: newest, readAt, links };
    return links;
  }
}

/**
 * The version's Patient when it may have a `link`, else undefined (no links). Stored JSON is
 * `JSON.stringify`'s, which writes the member as `"link":`, so text without `"link"` holds none.
 */
const utf8 = new TextDecoder();
function linkedPatientOf(version: ResourceRecord): Patient | undefined {
  if (version.resource) return version.resource as Patient;
  const json = version.json ?? (version.jsonBytes ? utf8.decode(version.jsonBytes) : undefined);
  return json !== undefined && json.includes('"link"') ? (JSON.parse(json) as Patient) : undefined;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** `Patient/<id>` of the records a Patient names as replaced-by or replaces, in any stored reference form. */
export function sameRecordLinksOf(patient: Patient | undefined): string[] {
  const out: string[] = [];
  for (const link of patient?.link ?? []) {
    if (!link.type || !SAME_PERSON.has(link.type)) continue;
    const other = localReference('Patient', link.other?.reference);
    if (other && !out.includes(other)) out.push(other);
  }
  return out;
}

/**
 * The persons that have a data-sharing Consent on at least one of their records, each as the list
 * of its records (`Patient/<id>`): records joined by a same-person link, in either direction and
 * through any chain, are one person.
 */
export function personsOf(byPatient: Map<string, Consent[]>, links: Map<string, string[]>): string[][] {
  if (links.size === 0) return [...byPatient.keys()].map((r) => [r]);
  const parent = new Map<string, string>();
  const root = (r: string): string => {
    let top = r;
    while (parent.has(top)) top = parent.get(top) as string;
    // Path halving keeps later look-ups short.
    let at = r;
    while (parent.has(at) && parent.get(at) !== top) {
      const next = parent.get(at) as string;
      parent.set(at, top);
      at = next;
    }
    return top;
  };
  for (const [record, others] of links) {
    for (const other of others) {
      const a = root(record);
      const b = root(other);
      if (a !== b) parent.set(a, b);
    }
  }
  const members = new Map<string, Set<string>>();
  const add = (r: string) => {
    const top = root(r);
    const set = members.get(top) ?? new Set<string>();
    set.add(r);
    members.set(top, set);
  };
  for (const [record, others] of links) {
    add(record);
    for (const other of others) add(other);
  }
  const persons: string[][] = [];
  const done = new Set<string>();
  for (const patient of byPatient.keys()) {
    const top = root(patient);
    if (done.has(top)) continue;
    done.add(top);
    persons.push(members.has(top) ? [...(members.get(top) as Set<string>)] : [patient]);
  }
  return persons;
}
