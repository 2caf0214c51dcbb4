// What a Patient/$merge does to health cards: the source record is a duplicate the registry has
// retired (inactive, replaced-by the target, its doses moved away), so every card issued from it
// is revoked as of the merge — it may carry a placeholder or mistyped name and only part of the
// history. The family gets a complete card from the target; the target's own cards stay valid (what
// they show is still true). Runs in the merge's own request after its writes committed: a failure
// here leaves the merge done and says so in its outcome (a warning to revoke by hand).
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { makeIssue } from '../fhir/outcome.js';
import type { AfterMerge } from '../operations/merge.js';
import type { HealthCardIssuer } from './issuer.js';

export function revokeAfterMerge(issuer: HealthCardIssuer): AfterMerge {
  return async ({ sourceId, mergedAt }): Promise<OperationOutcomeIssue[]> => {
    try {
      const { before, lists } = await issuer.revokePatient(sourceId, mergedAt);
      const versions = lists.map((l) => `${l.kid}: crlVersion ${l.ctr}`).join(', ');
      return [makeIssue('information', 'informational', `Health cards issued for Patient/${sourceId} before ${new Date(before * 1000).toISOString()} are revoked (${versions})`)];
    } catch (err) {
      return [
        makeIssue(
          'warning',
          'incomplete',
          `The merge is done, but the health cards of Patient/${sourceId} could not be revoked (${err instanceof Error ? err.message : String(err)}): revoke them with POST Patient/${sourceId}/$health-cards-revoke`
        ),
      ];
    }
  };
}
