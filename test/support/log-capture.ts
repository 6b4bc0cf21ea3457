import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { useApiTelemetry } from '../../functions/telemetry/api-telemetry.js';

/** A Powertools logger that keeps the lines it would print (as JSON objects). */
export class CapturingLogger extends Logger {
  readonly lines: Record<string, unknown>[] = [];
  protected override printLog(_level: number, log: LogItem): void {
    log.prepareForPrint();
    this.lines.push(JSON.parse(JSON.stringify(log.getAttributes())));
  }
}

/** Metrics that publish nothing. */
class SilentMetrics extends Metrics {
  override publishStoredMetrics(): this {
    this.clearMetrics();
    this.clearDimensions();
    return this;
  }
  override captureColdStartMetric(): void {}
}

/** Makes the API's request log lines (one per request) readable by the test: this process only. */
export function captureRequestLog(): CapturingLogger {
  const logger = new CapturingLogger({ serviceName: 'roaming-api', logLevel: 'INFO' });
  useApiTelemetry({
    logger,
    metrics: new SilentMetrics({ namespace: 'Roaming', serviceName: 'roaming-api' }),
  });
  return logger;
}

/** The `dynamodb` part of the last request line of `route`. */
export function lastStoreUsage(
  logger: CapturingLogger,
  route: string,
): { requests: number; capacityUnits: number; readUnits: number; byCommand: Record<string, number> } {
  const line = logger.lines.findLast((l) => l.message === 'request' && l.route === route);
  if (!line) throw new Error(`no request line of ${route}`);
  return line.dynamodb as never;
}
