import { type AbuserOptions, runAbuser } from './abuser.js';

/** The abuser's process (see runAbuserInProcess): runs it, prints the outcome as JSON, ends. */
const options = JSON.parse(process.env.ROAMING_ABUSER ?? '{}') as AbuserOptions;
const outcome = await runAbuser(options);
process.stdout.write(JSON.stringify({ ...outcome, other: [...outcome.other] }));
