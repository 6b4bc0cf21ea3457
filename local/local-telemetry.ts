import { Metrics } from '@aws-lambda-powertools/metrics';
import { API_SERVICE, METRICS_NAMESPACE, useApiTelemetry } from '../functions/telemetry/api-telemetry.js';
import { TerminalLogger } from './terminal-logger.js';

/**
 * `npm start` logs every request like a Lambda does (the same Powertools lines on stdout), one readable
 * line each when stdout is a terminal. EMF metrics are off locally (nothing reads them; on AWS CloudWatch
 * does) unless POWERTOOLS_METRICS_DISABLED=false.
 */
export function useTerminalLogsOnTerminal(): void {
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  if (!process.stdout.isTTY) return;
  useApiTelemetry({
    logger: new TerminalLogger({ serviceName: API_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: API_SERVICE }),
  });
}
