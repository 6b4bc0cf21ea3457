import { benchRequests } from './requests.js';
import { benchSweep } from './sweep.js';

/** `npm run bench`: every benchmark in turn. Figures only; nothing here asserts a speed. */
await benchRequests();
await benchSweep();
