import type { ChainedAuditRecord } from '../store/audit-store.js';
import { apiTelemetry, logInRequest } from '../telemetry/api-telemetry.js';

/**
 * Every admin action is logged as well as recorded (GET /v1/admin/audit): one structured line with the
 * correlation id of the request that made it (the same as that request's own line). The line carries
 * the record's `seq` and `hash`: logs the functions cannot rewrite, which `verify`'s head is compared
 * with (a deletion of the newest records leaves no gap in the chain).
 */
export function logAdminAction(record: ChainedAuditRecord): void {
  logInRequest(apiTelemetry(), 'admin action', { audit: record });
}
