import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@hey-api/openapi-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { removeDir, tempDir } from './support/local-process.js';

/**
 * A second, independent generator: @hey-api/openapi-ts (pinned in package.json, offline: it reads the
 * committed openapi.json) builds a TypeScript client from the document; a small app on it
 * (test/second-generator/app.ts) type-checks under strict settings and runs a two-device session
 * against the service the tests start. What the app saw is checked here.
 */
const ROOT = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');
const TSX = require.resolve('tsx');

let dir: string;
let harness: Harness;

beforeAll(async () => {
  dir = tempDir('second-generator');
  copyFileSync(join(ROOT, 'test', 'second-generator', 'app.ts'), join(dir, 'app.ts'));
  await createClient({
    input: join(ROOT, 'openapi.json'),
    output: { path: join(dir, 'generated') },
    plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
    logs: { level: 'silent' },
  });
  harness = await startHarness();
}, 120_000);

afterAll(async () => {
  await harness?.close();
  removeDir(dir);
});

describe('a client from @hey-api/openapi-ts', () => {
  it('type-checks the generated client and the app on it (strict)', () => {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['app.ts', 'node.d.ts'],
      }),
    );
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
    // `process` is all the app needs of Node: declared here, so the check depends on nothing installed.
    writeFileSync(join(dir, 'node.d.ts'), 'declare const process: { argv: string[] };\n');
    const output = execFileSync(process.execPath, [TSC, '-p', dir], { encoding: 'utf8' }).trim();
    expect(output).toBe('');
  });

  it('runs a two-device session against the service', async () => {
    const [alice, phone, laptop] = await Promise.all([
      harness.token('sg-alice'),
      harness.token('sg-bob'),
      harness.token('sg-bob'),
    ]);
    // Not execFileSync: the service answers from this process, whose event loop must keep running.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', TSX, join(dir, 'app.ts'), harness.baseUrl, alice, phone, laptop],
      { encoding: 'utf8', cwd: dir },
    );
    const seen = JSON.parse(stdout.trim());
    expect(seen).toEqual({
      msgId: expect.stringMatching(/^[0-9A-Z]{26}$/),
      phoneUnread: [['sg-alice', 1]],
      history: [seen.msgId],
      readThrough: seen.msgId,
      laptopLearned: [['sg-alice', 0]],
      deleted: 1,
      phoneLearnedDeleted: [seen.msgId],
      errorStatus: 400,
      errorCode: 'bad_request',
    });
  });
});
