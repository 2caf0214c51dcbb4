// Which patients are restricted (data sharing no or unknown), kept in memory and revalidated on
// every use against the newest Consent version in the store, so every server process sharing a
// store sees a Consent change on its next request, and rebuilt when a provision period begins or
// ends (the status it gives changes then without any write).
import type { Consent } from '@medplum/fhirtypes';
import type { Store } from '../store/store.js';
import { consentPatient, dataSharingOf, isDataSharingConsent, nextPeriodBoundary, type DataSharing } from './data-sharing.js';

interface Snapshot {
  stamp: string;
  /** Only restricted patients (`Patient/<id>` → sharing: no, unknown, or yes with denied organizations); everyone else is "yes". */
  restricted: Map<string, DataSharing>;
  /** When a provision period of some Consent begins or ends (epoch ms): the map is stale from then. */
  validUntil: number;
}

const PAGE = 1000;

export class SharingIndex {
  private snapshot: Snapshot | undefined;
  private building: Promise<Snapshot> | undefined;

  constructor(private readonly store: Store) {}

  /** The current restricted-patient map (rebuilt when any Consent changed since the last build). */
  async restricted(): Promise<Map<string, DataSharing>> {
    const stamp = await this.currentStamp();
    if (this.snapshot?.stamp === stamp && Date.now() < this.snapshot.validUntil) return this.snapshot.restricted;
    this.building ??= this.build(stamp).finally(() => {
      this.building = undefined;
    });
    const built = await this.building;
    this.snapshot = built;
    return built.restricted;
  }

  async sharingOf(patientRef: string): Promise<DataSharing> {
    return (await this.restricted()).get(patientRef) ?? { status: 'yes', exemptOrganizations: [] };
  }

  /** The newest Consent version identifies the state of all Consents (history is append-only). */
  private async currentStamp(): Promise<string> {
    const [newest] = await this.store.history({ resourceType: 'Consent', count: 1 });
    return newest ? `${newest.lastUpdated}|${newest.id}|${newest.versionId}` : 'none';
  }

  private async build(stamp: string): Promise<Snapshot> {
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
    const now = new Date();
    const restricted = new Map<string, DataSharing>();
    let validUntil = Number.POSITIVE_INFINITY;
    for (const [patient, consents] of byPatient) {
      const sharing = dataSharingOf(consents, now);
      if (sharing.status !== 'yes' || (sharing.deniedOrganizations?.length ?? 0) > 0) restricted.set(patient, sharing);
      validUntil = Math.min(validUntil, nextPeriodBoundary(consents, now));
    }
    return { stamp, restricted, validUntil };
  }
}
