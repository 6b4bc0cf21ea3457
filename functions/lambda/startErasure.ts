import { erasureStarterFromEnv } from '../erasure-starter.js';
import { makeStartErasureHandler } from '../handlers/erasures.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeStartErasureHandler(depsFromEnv(), erasureStarterFromEnv());
