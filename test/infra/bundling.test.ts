import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type RouteSpec } from '../../functions/routes.js';
import { DEVELOPMENT_IDEMPOTENCY_KEY } from '../../functions/runtime.js';
import { RETRY_RECORD_CONDITION } from '../../functions/store/idempotency-store.js';
import { esbuildOptionsOf } from '../../infra/bundling.js';
import { PROJECT_ROOT } from '../../infra/paths.js';
import { functionId, functionIds, type Synthesized, synthesize } from './support/stack.js';

const ENTRY_NAMES = [
  ...ROUTES.map((route) => route.name),
  'health',
  'notFound',
  'sweep',
  'exportWorker',
  'erasure',
  'eventsForBus',
  'deliverEvents',
];
/** The functions that start another function: they import the Lambda client from the runtime. */
const STARTERS = ['startSweep', 'startExport', 'exportWorker', 'startErasure', 'erasure'];
/** Far below Lambda's 250 MB; a bundle this large means something unexpected was pulled in. */
const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

let synthesized: Synthesized;
const bundles = new Map<string, string>();

beforeAll(() => {
  // With a webhook, so the sender is built too.
  synthesized = synthesize({
    bundle: true,
    props: { events: { webhookUrl: 'https://hooks.example.com/roaming/events' } },
  });
  const functions = synthesized.whole.findResources('AWS::Lambda::Function');
  for (const [name, id] of functionIds(synthesized.whole)) {
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
          EXPORT_FUNCTION_NAME: 'roaming-test-export',
          EXPORT_BUCKET: 'roaming-test-exports',
          ERASURE_FUNCTION_NAME: 'roaming-test-erasure',
          ROAMING_WEBHOOK_URL: 'https://hooks.example.com/roaming/events',
          ROAMING_WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:roaming-signing',
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
    const json = JSON.stringify(synthesized.whole.toJSON());
    expect(json).not.toContain(PROJECT_ROOT.replace(/\/$/, ''));
  });
});

describe('minified bundles', () => {
  it('keep the names of our error classes (logs print them; minifying renames classes)', async () => {
    // Prepare: the error module bundled exactly as the functions are.
    const dir = mkdtempSync(join(tmpdir(), 'roaming-errors-'));
    try {
      const outfile = join(dir, 'errors.mjs');
      await build(esbuildOptionsOf(join(PROJECT_ROOT, 'functions/core/errors.ts'), outfile));
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

describe('the idempotency key in the bundles', () => {
  const code = (name: string) => readFileSync(join(bundles.get(name) as string, 'index.mjs'), 'utf8');
  /** Every bundle that can write an idempotency record: it carries the record Put's condition. */
  const recordWriters = () =>
    [...bundles.keys()].filter((name) => code(name).includes(RETRY_RECORD_CONDITION));

  it('no bundle carries the development key, so none can fall back to it on AWS', () => {
    for (const name of bundles.keys()) {
      expect(code(name).includes(DEVELOPMENT_IDEMPOTENCY_KEY), name).toBe(false);
    }
  });

  it("every bundle that can write a retry record is a route's that keeps them: given the stack's key, and refusing to start without it", () => {
    // Prepare: which bundles can write a record, found in the code, not from the route table.
    const writers = recordWriters().sort();
    const flagged = (ROUTES as readonly RouteSpec[]).filter((route) => route.keepsRetryRecords);
    expect(writers).toEqual(flagged.map((route) => route.name).sort());
    const functions = synthesized.whole.findResources('AWS::Lambda::Function');
    const script = [
      'const results = {};',
      'for (const [name, url] of JSON.parse(process.argv[1])) {',
      '  try { await import(url); results[name] = "started"; }',
      '  catch (error) { results[name] = error.message; }',
      '}',
      'console.log(JSON.stringify(results));',
    ].join('\n');
    // Act: each cold start, without the key.
    const urls = writers.map((name) => [
      name,
      pathToFileURL(join(bundles.get(name) as string, 'index.mjs')).href,
    ]);
    const output = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify(urls)],
      {
        cwd: synthesized.app.outdir,
        env: {
          PATH: process.env.PATH,
          TABLE_NAME: 'roaming-test',
          AWS_REGION: 'eu-west-1',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
          POWERTOOLS_METRICS_DISABLED: 'true',
        },
        encoding: 'utf8',
      },
    );
    // Assess: each refuses to start; each function gets the key from the secret in the template.
    const results = JSON.parse(output) as Record<string, string>;
    for (const name of writers) {
      expect(results[name], name).toBe('ROAMING_IDEMPOTENCY_KEY must be set (at least 32 characters)');
      const variables = functions[functionId(synthesized.whole, name)]?.Properties?.Environment?.Variables;
      expect(JSON.stringify(variables?.ROAMING_IDEMPOTENCY_KEY), name).toMatch(/resolve:secretsmanager/);
    }
  }, 120_000);
});

describe('what a bundle leaves out', () => {
  it('the answer schemas of other routes (each one is marked pure where it is defined)', () => {
    const carries = (name: string, schemaId: string) =>
      readFileSync(join(bundles.get(name) as string, 'index.mjs'), 'utf8').includes(`"${schemaId}"`);
    expect(carries('listAudit', 'AuditPage')).toBe(true);
    expect(carries('fetchHistory', 'HistoryPage')).toBe(true);
    for (const name of bundles.keys()) {
      if (name !== 'listAudit') expect(carries(name, 'AuditPage'), name).toBe(false);
      if (name !== 'fetchHistory') expect(carries(name, 'HistoryPage'), name).toBe(false);
    }
  });
});

describe('the Lambda client', () => {
  it('is in no bundle: the starters (startSweep, startExport, the export worker, startErasure, erasure) import it from the Lambda runtime on their first invoke', () => {
    for (const [name, dir] of bundles) {
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      // The Invoke operation's path, which the bundled client would carry.
      expect(code.includes('/2015-03-31/functions/'), name).toBe(false);
      expect(code.includes('import("@aws-sdk/client-lambda")'), name).toBe(STARTERS.includes(name));
    }
  });

  it('loads from outside the bundle and invokes, signed for the lambda service', async () => {
    // Prepare: the invoke module bundled as the functions are, next to a node_modules that has the client
    // (on AWS: the runtime's SDK), and a stand-in for the Lambda API.
    const dir = mkdtempSync(join(PROJECT_ROOT, 'node_modules', '.roaming-invoke-'));
    const received: { url?: string; type?: string | string[]; auth?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        received.push({
          url: req.url,
          type: req.headers['x-amz-invocation-type'],
          auth: req.headers.authorization,
          body,
        });
        res.writeHead(202).end();
      });
    });
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const outfile = join(dir, 'invoke.mjs');
      await build(esbuildOptionsOf(join(PROJECT_ROOT, 'functions/lambda-invoke.ts'), outfile));
      expect(readFileSync(outfile, 'utf8')).not.toContain('/2015-03-31/functions/');
      const script = `const { createAsyncInvoke } = await import(${JSON.stringify(pathToFileURL(outfile).href)});
        await createAsyncInvoke()('roaming-sweep', { runId: 'R1' });`;
      // Act (asynchronously: the stand-in answers from this process)
      await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          PATH: process.env.PATH,
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'AKIDTEST',
          AWS_SECRET_ACCESS_KEY: 'secret',
          AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        },
        timeout: 30_000,
      });
      // Assess
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({
        url: '/2015-03-31/functions/roaming-sweep/invocations',
        type: 'Event',
        body: '{"runId":"R1"}',
      });
      expect(received[0]?.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/lambda\//);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('credentials in the bundles', () => {
  // Strings only the SDK's default credential chain carries: the web-identity and SSO clients, the
  // container provider.
  const CHAIN_MARKERS = ['AssumeRoleWithWebIdentity', 'sso-oauth', 'AWS_CONTAINER_CREDENTIALS'];

  it('no bundle carries the default credential chain; the bare client as the SDK ships it does', async () => {
    for (const [name, dir] of bundles) {
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      for (const marker of CHAIN_MARKERS) expect(code.includes(marker), `${name}: ${marker}`).toBe(false);
    }
    // The markers are the chain's: the bare client bundled without the alias carries every one.
    const dir = mkdtempSync(join(tmpdir(), 'roaming-bare-'));
    try {
      const outfile = join(dir, 'bare.mjs');
      const entry = join(PROJECT_ROOT, 'bench/bare-client-entry.ts');
      await build({ ...esbuildOptionsOf(entry, outfile), alias: {} });
      const code = readFileSync(outfile, 'utf8');
      for (const marker of CHAIN_MARKERS) expect(code.includes(marker), marker).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a bundled client signs with the credentials Lambda puts in the environment, and only those', async () => {
    // Prepare: a GetItem through the store's client, bundled as the functions are; a stand-in for DynamoDB.
    const dir = mkdtempSync(join(tmpdir(), 'roaming-credentials-'));
    const received: { auth?: string; token?: string | string[] }[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push({ auth: req.headers.authorization, token: req.headers['x-amz-security-token'] });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
      });
    });
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const outfile = join(dir, 'get-item.mjs');
      await build({
        ...esbuildOptionsOf('unused', outfile),
        entryPoints: [],
        stdin: {
          contents: [
            "import { GetCommand } from '@aws-sdk/lib-dynamodb';",
            "import { createDocumentClient } from './functions/store/db.ts';",
            "await createDocumentClient().send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } }));",
          ].join('\n'),
          resolveDir: PROJECT_ROOT,
          sourcefile: 'get-item.ts',
          loader: 'ts',
        },
      });
      const getItem = (credentials: Record<string, string>) =>
        promisify(execFile)(process.execPath, [outfile], {
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'eu-west-1',
            AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
            ...credentials,
          },
          timeout: 30_000,
        });
      // Act
      await getItem({
        AWS_ACCESS_KEY_ID: 'AKIDFROMENV',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_SESSION_TOKEN: 'role-session-token',
      });
      const withoutCredentials = await getItem({}).then(
        () => 'sent',
        (error: { stderr: string }) => error.stderr,
      );
      // Assess: signed with the environment's key and session token; without them, no other source is tried.
      expect(received).toHaveLength(1);
      expect(received[0]?.auth).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDFROMENV\/\d{8}\/eu-west-1\/dynamodb\//,
      );
      expect(received[0]?.token).toBe('role-session-token');
      expect(withoutCredentials).toContain('Unable to find environment variable credentials');
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
