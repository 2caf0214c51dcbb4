// Audit trail of access to patient data (AuditEvent). See audit-log.ts for the delivery guarantees.
export { auditAllowed } from './access.js';
export { buildAuditEvent, patientRef, patientRefsOf, type AccessEvent, type AuditInteraction } from './audit-event.js';
export { AuditLog, SPILL_FILE, type AuditLogOptions, type AuditStats } from './audit-log.js';
export { metricsRouter, metricsText } from './metrics.js';
