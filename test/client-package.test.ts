import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { removeDir, tempDir } from './support/local-process.js';

/**
 * The client as an app installs it: `client/` built with its own tsconfig (ESM and .d.ts, the way
 * `npm run build:client` does) into a package, and a small app that imports only that package
 * type-checks against it and talks to the API with it.
 */
const ROOT = join(import.meta.dirname, '..');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

let dir: string;
let pkg: string;
let harness: Harness;

beforeAll(async () => {
  dir = tempDir('client');
  pkg = join(dir, 'node_modules', '@roaming', 'client');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(ROOT, 'client', 'package.json'), join(pkg, 'package.json'));
  execFileSync(process.execPath, [
    TSC,
    '-p',
    join(ROOT, 'client', 'tsconfig.json'),
    '--outDir',
    join(pkg, 'dist'),
  ]);
  harness = await startHarness();
}, 120_000);

afterAll(async () => {
  await harness?.close();
  removeDir(dir);
});

describe('the client package', () => {
  it('is ESM with declarations, exported through package.json, and depends on nothing', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      type: 'module',
      exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } },
    });
    expect(manifest.dependencies).toBeUndefined();
    const files = readdirSync(join(pkg, 'dist'));
    expect(files).toEqual(
      expect.arrayContaining(['index.js', 'index.d.ts', 'api-types.d.ts', 'roaming-client.js']),
    );
    // Only its own modules: nothing of the server (functions/, zod, the AWS SDK) is imported.
    for (const file of files.filter((name) => name.endsWith('.js') || name.endsWith('.d.ts'))) {
      const imports = [...readFileSync(join(pkg, 'dist', file), 'utf8').matchAll(/from '([^']+)'/g)].map(
        (m) => m[1],
      );
      expect(
        imports.every((specifier) => specifier?.startsWith('./')),
        `${file}: ${imports}`,
      ).toBe(true);
    }
  });

  it('type-checks an app that imports only the package, and catches a wrong request', () => {
    const app = join(dir, 'app.ts');
    writeFileSync(
      app,
      [
        "import { type Conversation, RoamingApiError, RoamingClient, type SendRequest } from '@roaming/client';",
        '',
        "const client = new RoamingClient('http://127.0.0.1:3000', 'a token');",
        "const hello: SendRequest = { to: 'bob', chatType: 'single', type: 'text', body: { text: 'hi' } };",
        'export async function main(): Promise<string[]> {',
        '  const message = await client.sendMessage(hello);',
        '  const page = await client.fetchConversationsFromServer({ limit: 5 });',
        '  const conversations: Conversation[] = page.conversations;',
        '  const unread: number = conversations[0]?.unreadCount ?? 0;',
        '  return [message.msgId, String(unread), String(RoamingApiError.name)];',
        '}',
        '// @ts-expect-error: the API has no such chat type',
        "export const wrong: SendRequest = { to: 'bob', chatType: 'channel', type: 'text', body: {} };",
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          noEmit: true,
        },
        files: ['app.ts'],
      }),
    );
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
    const result = execFileSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8' });
    expect(result).toBe('');
  });

  it('the built package talks to the API', async () => {
    const { RoamingClient } = (await import(
      pathToFileURL(join(pkg, 'dist', 'index.js')).href
    )) as typeof import('../client/index.js');
    const client = new RoamingClient(harness.baseUrl, await harness.token('pkg-alice'));
    const message = await client.sendMessage({
      to: 'pkg-bob',
      chatType: 'single',
      type: 'text',
      body: { text: 'hi' },
    });
    const page = await client.fetchConversationsFromServer({ limit: 5 });
    expect(page.conversations.map((c) => [c.convId, c.lastMessage.msgId])).toEqual([
      ['pkg-bob', message.msgId],
    ]);
  });
});
