import '../../local/quiet-warnings.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { exitCodeOf, runCommand, StartupError } from '../../local/cli.js';
import { startLocalService } from '../support/local-service.js';
import { describeAbuser, runAbuserInProcess } from './abuser.js';
import { LoadApi } from './api.js';
import { Ledger } from './ledger.js';
import { OperationStats } from './stats.js';
import { verify } from './verify.js';
import { createGroups, population, runVirtualUser } from './workload.js';

/**
 * `npm run loadtest -- --users N --duration SECONDS [--url URL --token-cmd CMD] [--seed S]
 *   [--abuser [--abuser-concurrency K]]`
 *
 * N virtual users for a bounded time against the API: without --url, a service of its own on
 * 127.0.0.1 over an in-memory DynamoDB Local (stopped however the run ends); with --url, a deployed
 * stack, whose tokens come from `CMD <user>` (the command prints a token for that user, e.g.
 * `--token-cmd "npm run -s token --"` against an npm start). Prints a progress line every 5 s, then
 * p50/p99 latency, ops/s and errors per operation, then checks everything against its ledger of
 * acknowledged operations and prints `lost: 0` or the ids. Exit code 1 if anything was lost or wrong.
 * With --abuser, one more user sends flat out the whole time (K sends in flight, default 8, Retry-After
 * ignored): the table is the other users' alone, so it compares with a run without --abuser.
 */
runCommand(
  async function loadtest(lifetime) {
    const { values } = parseArgs({
      options: {
        users: { type: 'string', default: '20' },
        duration: { type: 'string', default: '30' },
        url: { type: 'string' },
        'token-cmd': { type: 'string' },
        seed: { type: 'string' },
        abuser: { type: 'boolean', default: false },
        'abuser-concurrency': { type: 'string', default: '8' },
      },
    });
    const users = Number(values.users);
    const seconds = Number(values.duration);
    if (!Number.isInteger(users) || users < 1 || users > 2000 || !(seconds > 0) || seconds > 24 * 3600) {
      throw new StartupError(
        'usage: npm run loadtest -- --users N (1-2000) --duration SECONDS [--url URL --token-cmd CMD] [--seed S]',
      );
    }
    const abuserConcurrency = Number(values['abuser-concurrency']);
    if (!Number.isInteger(abuserConcurrency) || abuserConcurrency < 1 || abuserConcurrency > 256) {
      throw new StartupError('--abuser-concurrency: sends in flight, 1-256');
    }
    if (values.url !== undefined && values['token-cmd'] === undefined) {
      throw new StartupError(
        '--url needs --token-cmd: a command that prints a token for the user given as its last argument',
      );
    }
    let baseUrl: string;
    let tokenFor: (user: string) => Promise<string>;
    let target: string;
    if (values.url === undefined) {
      const service = await startLocalService(lifetime, { command: 'npm run loadtest' });
      baseUrl = service.baseUrl;
      tokenFor = (user) => service.token(user);
      target = `${baseUrl} (a service of its own on an in-memory DynamoDB Local)`;
    } else {
      baseUrl = values.url;
      const [command, ...args] = (values['token-cmd'] as string).split(' ').filter(Boolean) as [
        string,
        ...string[],
      ];
      tokenFor = async (user) => execFileSync(command, [...args, user], { encoding: 'utf8' }).trim();
      target = baseUrl;
    }

    const seed = Number(values.seed ?? randomBytes(4).readUInt32LE(0));
    const tag = seed.toString(36);
    const pop = population(tag, users);
    const tokens = new Map<string, string>();
    const abuser = values.abuser ? `lt-${tag}-abuser` : undefined;
    for (const user of [...pop.users, ...(abuser ? [abuser] : [])]) tokens.set(user, await tokenFor(user));
    const tokenOf = (user: string) => tokens.get(user) as string;
    // Setup and verification requests are counted apart from the load.
    const api = new LoadApi(baseUrl, new OperationStats());
    const ledger = new Ledger();
    console.log(
      `loadtest: ${users} virtual users${abuser ? ` and one abuser (${abuserConcurrency} sends in flight)` : ''} ` +
        `for ${seconds} s against ${target}, seed ${seed}`,
    );
    await createGroups(api, ledger, pop, tokenOf);

    const loadStats = new OperationStats();
    const loadApi = new LoadApi(baseUrl, loadStats);
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const progress = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      console.log(
        `[${elapsed.toFixed(0).padStart(4)} s] ${loadStats.total} ops, ${(loadStats.total / elapsed).toFixed(1)} ops/s, ` +
          `${loadStats.errorTotal} errors, ${ledger.messages.size} messages acknowledged`,
      );
    }, 5000);
    lifetime.onEnd(() => clearInterval(progress));
    let state = seed >>> 0 || 1;
    // xorshift: the operation mix replays for a seed (the interleaving, set by the machine, does not).
    const random = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 2 ** 32;
    };
    const toWall = (t: number) => performance.timeOrigin + t;
    const abuse =
      abuser &&
      runAbuserInProcess({
        baseUrl,
        user: abuser,
        token: tokenOf(abuser),
        victims: pop.users,
        deadline: toWall(deadline),
        concurrency: abuserConcurrency,
      });
    await Promise.all(
      pop.users.map((user) => runVirtualUser({ api: loadApi, ledger, pop, tokenOf, deadline, random }, user)),
    );
    const abused = abuse ? await abuse : undefined;
    for (const message of abused?.accepted ?? []) {
      const fromWall = (t: number) => t - performance.timeOrigin;
      ledger.acknowledged({ ...message, sentAt: fromWall(message.sentAt), ackAt: fromWall(message.ackAt) });
    }
    for (const text of abused?.uncertainTexts ?? []) ledger.uncertainTexts.add(text);
    clearInterval(progress);
    const elapsed = (performance.now() - started) / 1000;
    console.log(
      `\n${pop.users.length} virtual users, ${elapsed.toFixed(1)} s:\n${loadStats.table(elapsed)}\n`,
    );
    if (abused) console.log(`${describeAbuser(abused, elapsed)}\n`);

    console.log('verifying every copy against the ledger of acknowledged operations...');
    const verdict = await verify(api, ledger, pop.users, tokenOf);
    console.log(
      `checked ${verdict.copiesChecked} message copies in ${verdict.conversations} conversations of ${verdict.users} users ` +
        `(${ledger.messages.size} messages acknowledged, ${ledger.uncertainTexts.size} sends unanswered)`,
    );
    const list = (items: string[]) =>
      items.length ? `${items.length}: ${items.slice(0, 50).join(', ')}` : '0';
    console.log(`lost: ${list(verdict.lost)}`);
    console.log(`visible after delete: ${list(verdict.visibleAfterDelete)}`);
    console.log(
      `wrong: ${verdict.wrong.length ? `${verdict.wrong.length}\n  ${verdict.wrong.slice(0, 50).join('\n  ')}` : '0'}`,
    );
    const failed = verdict.lost.length + verdict.visibleAfterDelete.length + verdict.wrong.length > 0;
    await lifetime.end(failed ? 1 : 0);
  },
  {
    onSignal(signal) {
      console.log('Load test interrupted.');
      return exitCodeOf(signal);
    },
  },
);
