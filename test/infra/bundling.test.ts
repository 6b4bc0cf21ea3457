import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../functions/routes.js';
import { esbuildOptionsOf } from '../../infra/bundling.js';
import { PROJECT_ROOT } from '../../infra/paths.js';
import { functionIds, type Synthesized, synthesize } from './support/stack.js';

const ENTRY_NAMES = [...ROUTES.map((route) => route.name), 'notFound', 'sweep'];
/** Far below Lambda's 250 MB; a bundle this large means something unexpected was pulled in. */
const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

let synthesized: Synthesized;
const bundles = new Map<string, string>();

beforeAll(() => {
  synthesized = synthesize({ bundle: true });
  const functions = synthesized.template.findResources('AWS::Lambda::Function');
  for (const [name, id] of functionIds(synthesized.template)) {
    const assetPath = functions[id]?.Metadata?.['aws:asset:path'];
    if (typeof assetPath !== 'string') throw new Error(`${name} has no asset`);
    bundles.set(name, join(synthesized.app.outdir, assetPath));
  }
}, 300_000);

afterAll(() => {
  if (synthesized) rmSync(synthesized.app.outdir, { recursive: true, force: true });
});

describe('bundling with the local esbuild', () => {
  it('bundles every function into one ESM file with a source map', () => {
    expect([...bundles.keys()].sort()).toEqual([...ENTRY_NAMES].sort());
    for (const [name, dir] of bundles) {
      const code = join(dir, 'index.mjs');
      expect(existsSync(code), name).toBe(true);
      expect(existsSync(join(dir, 'index.mjs.map')), name).toBe(true);
      expect(statSync(code).size, name).toBeLessThan(MAX_BUNDLE_BYTES);
      expect(
        readFileSync(code, 'utf8').startsWith(
          "import { createRequire as __roamingCreateRequire } from 'node:module';",
        ),
      ).toBe(true);
    }
  });

  it('produces bundles that load in plain Node without node_modules and export a handler', () => {
    // Each bundle is imported (its cold start runs); a failure reports the message, not the minified source.
    const script = [
      'const results = {};',
      'const entries = JSON.parse(process.argv[1]);',
      'for (const [name, url] of entries) {',
      '  try { results[name] = typeof (await import(url)).handler; }',
      '  catch (error) { results[name] = "import failed: " + error.message; }',
      '}',
      'const notFound = await import(entries.find(([n]) => n === "notFound")[1]);',
      'const reply = await notFound.handler({ rawPath: "/nope", requestContext: { http: { method: "GET" } } }, {});',
      'console.log(JSON.stringify({ results, status: reply.statusCode, body: JSON.parse(reply.body) }));',
    ].join('\n');
    const urls = [...bundles].map(([name, dir]) => [name, pathToFileURL(join(dir, 'index.mjs')).href]);
    const output = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify(urls)],
      {
        cwd: synthesized.app.outdir,
        env: {
          PATH: process.env.PATH,
          TABLE_NAME: 'roaming-test',
          ROAMING_IDEMPOTENCY_KEY: 'bundle-load-test-key-of-at-least-32-chars',
          SWEEP_FUNCTION_NAME: 'roaming-test-sweep',
          AWS_REGION: 'eu-west-1',
          // The notFound handler logs its request (Powertools); this script's stdout is its JSON answer only.
          POWERTOOLS_LOG_LEVEL: 'SILENT',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const { results, status, body } = JSON.parse(output) as {
      results: Record<string, string>;
      status: number;
      body: { error?: { code?: string } };
    };
    expect(results).toEqual(Object.fromEntries(ENTRY_NAMES.map((name) => [name, 'function'])));
    expect(status).toBe(404);
    expect(body.error?.code).toBe('not_found');
  }, 120_000);

  it('writes no path of this checkout into the template', () => {
    const json = JSON.stringify(synthesized.template.toJSON());
    expect(json).not.toContain(PROJECT_ROOT.replace(/\/$/, ''));
  });
});

describe('minified bundles', () => {
  it('keep the names of our error classes (logs print them; minifying renames classes)', async () => {
    // Prepare: the error module bundled exactly as the functions are.
    const dir = mkdtempSync(join(tmpdir(), 'roaming-errors-'));
    try {
      const outfile = join(dir, 'errors.mjs');
      await build({
        ...esbuildOptionsOf('unused', outfile),
        entryPoints: undefined,
        stdin: { contents: "export * from './functions/core/errors.ts';", resolveDir: PROJECT_ROOT },
      });
      // Act
      const bundled = (await import(pathToFileURL(outfile).href)) as Record<string, unknown>;
      const names: Record<string, string> = {};
      for (const [exported, value] of Object.entries(bundled)) {
        if (typeof value !== 'function' || !exported.endsWith('Error')) continue;
        const instance = new (value as new (m: string) => Error & { status?: number })('x');
        // The abstract bases (RoamingError, RetryableError) carry no status: never thrown as such.
        if (instance.status !== undefined) names[exported] = instance.name;
      }
      // Assess
      expect(Object.keys(names)).toContain('ThrottledError');
      for (const [exported, name] of Object.entries(names)) expect(name, exported).toBe(exported);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
