import type { AuditRecord } from '../store/audit-store.js';

/** Every admin action is logged as well as recorded (GET /v1/admin/audit): one JSON line. */
export function logAdminAction(record: AuditRecord): void {
  console.log(JSON.stringify({ level: 'INFO', message: 'admin action', ...record }));
}
