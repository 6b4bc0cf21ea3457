import { systemClock } from '../core/clock.js';
import { s3SinkFromEnv } from '../exports/s3-sink.js';
import { makeGetExportHandler } from '../handlers/exports.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeGetExportHandler(depsFromEnv(), s3SinkFromEnv(systemClock));
