// What a Patient/$merge does to health cards: the source record is a duplicate the registry has
// retired (inactive, replaced-by the target, its doses moved away), so every card issued from it
// is revoked as of the merge — it may carry a placeholder or mistyped name and only part of the
// history. The family gets a complete card from the target; the target's own cards stay valid (what
// they show is still true). Runs in the merge's own request after its writes committed: a failure
// here leaves the merge done and says so in its outcome (a warning to revoke by hand). The source's
// SMART Health Links are deactivated with its cards (HealthCardIssuer.revokePatient).
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { makeIssue } from '../fhir/outcome.js';
import type { AfterMerge } from '../operations/merge.js';
import type { HealthCardIssuer } from './issuer.js';

export function revokeAfterMerge(issuer: HealthCardIssuer): AfterMerge {
  return async ({ sourceId, mergedAt }): Promise<OperationOutcomeIssue[]> => {
    try {
      const { before, lists, linksDeactivated } = await issuer.revokePatient(sourceId, mergedAt);
      const versions = lists.map((l) => `${l.kid}: crlVersion ${l.ctr}`).join(', ');
      const links = linksDeactivated > 0 ? `; its ${linksDeactivated} SMART Health Link${linksDeactivated === 1 ? ' is' : 's are'} deactivated` : '';
      return [makeIssue('information', 'informational', `Health cards issued for Patient/${sourceId} before ${new Date(before * 1000).toISOString()} are revoked (${versions})${links}`)];
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
