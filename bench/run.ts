import '../local/quiet-warnings.js';
import { benchRequests } from './requests.js';
import { runBenchmarks } from './setup.js';
import { benchSweep } from './sweep.js';

/** `npm run bench`: every benchmark in turn. Figures only; nothing here asserts a speed. */
runBenchmarks(async function everyBenchmark() {
  await benchRequests();
  await benchSweep();
});
