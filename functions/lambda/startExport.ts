import { exportStarterFromEnv } from '../export-starter.js';
import { makeStartExportHandler } from '../handlers/exports.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeStartExportHandler(depsFromEnv(), exportStarterFromEnv());
