import { makePinConversationHandler } from '../handlers/pins-and-marks.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makePinConversationHandler(depsFromEnv());
