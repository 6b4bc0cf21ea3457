import { makeListAuditHandler } from '../handlers/audit.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeListAuditHandler(depsFromEnv());
