import { makeMarkConversationHandler } from '../handlers/pins-and-marks.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeMarkConversationHandler(depsFromEnv());
