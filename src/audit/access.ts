// Who may read AuditEvents: public-health system clients only, i.e. a token with a system/ scope
// covering AuditEvent (or `*`) for reading or searching, and no `organization` claim. Facility
// (organization) callers and user/ or patient/ scopes never see the audit trail.
import type { Caller } from '../auth/caller.js';

export function auditAllowed(caller: Caller | undefined): boolean {
  if (!caller || caller.organization !== undefined) return false;
  return caller.scopes.some(
    (s) =>
      s.context === 'system' &&
      (s.resourceType === '*' || s.resourceType === 'AuditEvent') &&
      (s.permissions.has('r') || s.permissions.has('s'))
  );
}
