import type { AddressInfo } from 'node:net';
import type { RoamingConfig } from '../../functions/domain/deps.js';
import { ensureTable } from '../../functions/store/create-table.js';
import type { DocumentSender } from '../../functions/store/db.js';
import type { Lifetime } from '../../local/cli.js';
import { signDevToken } from '../../local/dev-auth.js';
import { startEmbeddedDynamo, stopAllEmbeddedDynamos } from '../../local/embedded-dynamo.js';
import { createLocalApi } from '../../local/http-server.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from '../../local/local-app.js';
import { snapshotTable, type TableSnapshot } from './table-snapshot.js';

/**
 * The service as `npm start` runs it, for the command-line tools (`npm run fuzz`, `npm run loadtest`):
 * an in-memory DynamoDB Local of its own, a fresh table, the real handlers behind the local API on
 * 127.0.0.1 (a free port), real time. Everything it started stops when the command ends, however it ends.
 */
export interface LocalService {
  baseUrl: string;
  token(userId: string, options?: { admin?: boolean }): Promise<string>;
  snapshot(): Promise<TableSnapshot>;
  client: DocumentSender;
  tableName: string;
}

const SECRET = 'local-tools-secret';

export async function startLocalService(
  lifetime: Lifetime,
  options: { command: string; config?: Partial<RoamingConfig> },
): Promise<LocalService> {
  // The tools print their own report: a request line and metrics per request would drown it (and cost
  // the load test CPU). Telemetry is built on first use, so this is in time; set them to see it.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  lifetime.onEnd(stopAllEmbeddedDynamos);
  const dynamo = await startEmbeddedDynamo({ command: options.command });
  const raw = localDynamoClient(dynamo.endpoint);
  lifetime.onEnd(() => raw.destroy());
  const tableName = 'roaming';
  await ensureTable(raw, tableName, { stream: false });
  const client = documentClientOf(raw);
  const app = buildLocalApp({ client, tableName, config: options.config });
  const server = createLocalApi({ handlers: app.handlers, jwtSecret: SECRET });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  lifetime.onEnd(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: (userId, o = {}) => signDevToken(userId, { admin: o.admin, secret: SECRET }),
    snapshot: () => snapshotTable(client, tableName),
    client,
    tableName,
  };
}
