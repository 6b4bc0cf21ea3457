import { ensureTable } from './functions/store/create-table.js';
import { startEmbeddedDynamo } from './local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from './local/local-app.js';
import { check } from './test/simulation/oracle.js';
import { actor, attemptSend, newLog } from './test/simulation/workload.js';
import { createWorld } from './test/simulation/world.js';
import { Dice } from './test/support/prng.js';

const seed = Number(process.argv[2]);
const watch = process.argv[3];
const dynamo = await startEmbeddedDynamo();
const raw = localDynamoClient(dynamo.endpoint);
await ensureTable(raw, 'dbg');
const world = await createWorld(seed, documentClientOf(raw), 'dbg');
const log = newLog(world);
for (let i = 0; i < 4; i++) {
  const dice = Dice.seeded(world.dice.fork());
  world.scheduler.start('actor', () => actor(world, log, dice, 10));
}
await world.scheduler.drain();
for (let round = 0; round < 5; round++) {
  const failed = log.sends.filter((r) => !r.message && !r.refused);
  if (!failed.length) break;
  for (const r of failed) void attemptSend(world, log, world.instances[round % 3]!.deps, r);
  await world.scheduler.drain();
}
console.log(
  JSON.stringify(
    log.sends.filter((s) => !watch || s.text === watch),
    null,
    1,
  ),
);
console.log(
  JSON.stringify(
    log.changes.filter((c) => c.chatType === 'group'),
    null,
    0,
  ).slice(0, 3000),
);
console.log((await check(world, log)).join('\n'));
raw.destroy();
await dynamo.stop();
