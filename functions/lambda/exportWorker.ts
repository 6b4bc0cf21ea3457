import { systemClock } from '../core/clock.js';
import { exportStarterFromEnv } from '../export-starter.js';
import { s3SinkFromEnv } from '../exports/s3-sink.js';
import { makeExportWorkerHandler } from '../handlers/export-worker.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeExportWorkerHandler(
  depsFromEnv(),
  s3SinkFromEnv(systemClock),
  exportStarterFromEnv(),
);
