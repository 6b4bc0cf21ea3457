import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import type { Message } from '../functions/core/model.js';
import { listConversations } from '../functions/domain/conversations.js';
import { fetchHistory } from '../functions/domain/history.js';
import { createDeps } from '../functions/runtime.js';
import { documentClientOf, localDynamoClient } from '../local/local-app.js';
import { planSeed } from '../local/seed-plan.js';

/**
 * `npm run seed` writes through the service's write path: afterwards every planned message can be read
 * back through the domain's own reads, with timestamps spread over the days asked for.
 */
const ROOT = join(import.meta.dirname, '..');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe('npm run seed', () => {
  it('writes users, groups and conversations of varied length over D days, readable through the API reads', async () => {
    const endpoint = inject('dynamoEndpoint');
    const tableName = `roaming_seed_${process.pid}`;
    const before = Date.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        TSX,
        join(ROOT, 'local/seed.ts'),
        '--users',
        '12',
        '--messages',
        '200',
        '--days',
        '20',
        '--groups',
        '2',
      ],
      { cwd: ROOT, env: { ...process.env, DYNAMODB_ENDPOINT: endpoint, TABLE_NAME: tableName } },
    );
    expect(stdout).toMatch(/\[#{30}\] 200\/200 messages {2}[\d,]+ msg\/s/);
    expect(stdout).toMatch(/Seeded 200 messages in [\d.]+ s: [\d,]+ messages\/s/);

    const client = localDynamoClient(endpoint);
    const deps = createDeps({ client: documentClientOf(client), tableName });
    const plan = planSeed({ users: 12, messages: 200, days: 20, groups: 2, seed: 1, end: before });
    const messages = new Map<string, Message>();
    const lengths = new Map<string, number>();
    for (const user of plan.users) {
      let cursor: string | undefined;
      do {
        const page = await listConversations(deps, user, { form: 'cursor', limit: 50, cursor });
        for (const conversation of page.conversations) {
          const ref = { owner: user, chatType: conversation.chatType, convId: conversation.convId };
          let start: string | undefined;
          let length = 0;
          do {
            const history = await fetchHistory(deps, ref, {
              pageSize: 50,
              startMsgId: start,
              direction: 'up',
            });
            for (const message of history.messages) messages.set(message.msgId, message);
            length += history.messages.length;
            start = history.cursor ?? undefined;
          } while (start);
          lengths.set(`${conversation.chatType}:${[user, conversation.convId].sort().join('|')}`, length);
        }
        cursor = page.cursor ?? undefined;
      } while (cursor);
    }
    client.destroy();

    expect(messages.size).toBe(200);
    const times = [...messages.values()].map((m) => m.timestamp);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(before - 20 * DAY_MS);
    expect(Math.max(...times)).toBeLessThanOrEqual(Date.now());
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(15 * DAY_MS);
    const groupIds = new Set([...messages.values()].filter((m) => m.chatType === 'group').map((m) => m.to));
    expect(groupIds.size).toBe(2);
    expect(new Set([...messages.values()].map((m) => m.type)).size).toBeGreaterThan(1);
    // Varied lengths: a few busy conversations, many short ones.
    expect(new Set(lengths.values()).size).toBeGreaterThanOrEqual(4);
  });
});
