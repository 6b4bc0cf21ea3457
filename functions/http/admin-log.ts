import type { AuditRecord } from '../store/audit-store.js';
import { apiTelemetry, logInRequest } from '../telemetry/api-telemetry.js';

/**
 * Every admin action is logged as well as recorded (GET /v1/admin/audit): one structured line with the
 * correlation id of the request that made it (the same as that request's own line).
 */
export function logAdminAction(record: AuditRecord): void {
  logInRequest(apiTelemetry(), 'admin action', { audit: record });
}
