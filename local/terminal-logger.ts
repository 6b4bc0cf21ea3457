import { Logger, type LogItem, LogLevelThreshold } from '@aws-lambda-powertools/logger';

/**
 * The Powertools logger, printing one line a person reads instead of JSON: what `npm start` uses when
 * its output is a terminal (piped or redirected, it prints the JSON lines Lambda prints).
 *
 *   07:41:02.115 INFO  200 GET /v1/conversations  listConversations alice  4.1 ms  DynamoDB 1 request, 0.5 units
 *
 * It shows the route key (`GET /v1/conversations/{chatType}/{convId}/messages`), as the JSON line does;
 * only a 404 shows its (cut) path.
 */
export class TerminalLogger extends Logger {
  protected override printLog(logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    const attributes = log.getAttributes() as Record<string, unknown>;
    const line = describeLine(attributes);
    if (logLevel >= LogLevelThreshold.WARN) process.stderr.write(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  }
}

const STANDARD_KEYS = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'sampling_rate',
  'xray_trace_id',
  'correlation_id',
  'function_request_id',
]);

function describeLine(attributes: Record<string, unknown>): string {
  const time = String(attributes.timestamp ?? '').slice(11, 23);
  const level = String(attributes.level ?? '').padEnd(5);
  if ('route' in attributes && 'status' in attributes)
    return `${time} ${level} ${describeRequest(attributes)}`;
  const extra = Object.entries(attributes)
    .filter(([key]) => !STANDARD_KEYS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [`${time} ${level} ${attributes.message}`, ...extra].join('  ');
}

function describeRequest(a: Record<string, unknown>): string {
  const store = a.dynamodb as { requests: number; capacityUnits: number } | undefined;
  const parts = [
    a.path === undefined ? `${a.status} ${a.routeKey}` : `${a.status} ${a.method} ${a.path}`,
    `${a.route}${a.caller ? ` ${a.caller}` : ''}`,
    `${a.latencyMs} ms`,
  ];
  if (store) {
    parts.push(
      `DynamoDB ${store.requests} request${store.requests === 1 ? '' : 's'}, ${store.capacityUnits} units`,
    );
  }
  if (a.errorCode) parts.push(String(a.errorCode));
  const error = a.error as { stack?: string; message?: string } | undefined;
  const line = parts.join('  ');
  return error ? `${line}\n${error.stack ?? error.message}` : line;
}
