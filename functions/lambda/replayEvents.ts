import { makeReplayEventsHandler } from '../handlers/events.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeReplayEventsHandler(depsFromEnv());
