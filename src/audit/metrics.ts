// GET /metrics: Prometheus text exposition of the audit counters (no token needed; counts only).
//   iis_audit_events_recorded_total   events handed to the audit log
//   iis_audit_events_written_total    events stored
//   iis_audit_write_failures_total    failed write attempts (each logged and retried)
//   iis_audit_events_pending          events waiting or being written
//   iis_audit_events_spilled_total    events appended to DATA_DIR/audit-undelivered.ndjson
//   iis_audit_events_lost_total       events that could not even be spilled (logged in full)
import express from 'express';
import type { AuditLog } from './audit-log.js';

export function metricsText(audit: AuditLog): string {
  const s = audit.stats();
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric('iis_audit_events_recorded_total', 'counter', 'AuditEvents handed to the audit log.', s.recorded);
  metric('iis_audit_events_written_total', 'counter', 'AuditEvents stored.', s.written);
  metric('iis_audit_write_failures_total', 'counter', 'Failed AuditEvent write attempts (logged and retried).', s.failedWrites);
  metric('iis_audit_events_pending', 'gauge', 'AuditEvents waiting to be stored.', s.pending);
  metric('iis_audit_events_spilled_total', 'counter', 'AuditEvents appended to the spill file for replay.', s.spilled);
  metric('iis_audit_events_lost_total', 'counter', 'AuditEvents that could be neither stored nor spilled.', s.lost);
  return `${lines.join('\n')}\n`;
}

export function metricsRouter(audit: AuditLog): express.Router {
  const router = express.Router();
  router.get('/metrics', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/plain; version=0.0.4').send(metricsText(audit));
  });
  return router;
}
