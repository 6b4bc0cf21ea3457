import type { AuditRecord } from '../store/audit-store.js';
import { apiTelemetry } from '../telemetry/api-telemetry.js';

/** Every admin action is logged as well as recorded (GET /v1/admin/audit): one structured line. */
export function logAdminAction(record: AuditRecord): void {
  apiTelemetry().logger.info('admin action', { audit: record });
}
