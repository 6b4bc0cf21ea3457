import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { ROUTES } from '../functions/routes.js';
import { esbuildOptionsOf } from '../infra/bundling.js';
import { lambdaEntry, PROJECT_ROOT } from '../infra/paths.js';
import { functionIds, synthesize } from '../test/infra/support/stack.js';
import { runBenchmarks } from './setup.js';
import { formatSpread, type Spread, spreadOf } from './stats.js';

/**
 * Cold start of every Lambda function, measured as the time to import its bundle in a fresh Node
 * process, next to the floor: a bundle of only the DynamoDB document client (bench/bare-client-entry.ts),
 * built with the same esbuild options as the stack's (infra/bundling.ts) but as the SDK ships it, with
 * its default credential chain (the functions replace that chain by environment credentials: `aliases`
 * there). The same bare client with environment credentials only is measured too, once per round, as a
 * second reference: what is left of a function's cold start beyond the SDK. Each round imports the floor
 * and then a function's bundle, alternating, so a busy machine slows both alike; a function's ratio is
 * the median over rounds of its import time divided by the floor's right before it. Every process gets
 * the environment the stack gives that function (read from the synthesized template) plus what Lambda
 * itself sets. Also measures what --enable-source-maps costs, on import and on an error's first log line.
 * Run alone: `npx tsx bench/cold-start.ts [rounds]` (at least 9; 21 by default).
 */
const BARE_CLIENT = 'bare DynamoDB document client, default credential chain';
const ENV_ONLY_CLIENT = 'the same with environment credentials only, as the functions have';

export interface BundleFigure {
  name: string;
  bytes: number;
  /** The packages (or project folders) that make up most of the bundle, largest first. */
  largest: { input: string; bytes: number }[];
  importMs: Spread;
  /** Import time / the floor's import time, paired per round. */
  ratio: Spread;
  /** Import time / the environment-credentials floor's import time in the same round. */
  ratioToEnvOnlyFloor: Spread;
}

export interface SourceMapFigures {
  bundle: string;
  mapBytes: number;
  /** Import time with --enable-source-maps / without, paired per round. */
  importRatio: Spread;
  importMsWith: Spread;
  importMsWithout: Spread;
  /** The first request that fails with a 500 (its log line carries the stack), with and without. */
  firstErrorMsWith: Spread;
  firstErrorMsWithout: Spread;
  /** A later failing request (the map is parsed by then). */
  laterErrorMsWith: Spread;
  laterErrorMsWithout: Spread;
}

export interface ColdStartFigures {
  node: string;
  rounds: number;
  floor: { name: string; bytes: number; importMs: Spread };
  envOnlyFloor: { name: string; bytes: number; importMs: Spread };
  bundles: BundleFigure[];
  sourceMaps: SourceMapFigures;
}

/** What Lambda sets in every function's environment (credentials are resolved from it on first use). */
const LAMBDA_RUNTIME_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_ACCESS_KEY_ID: 'bench-access-key',
  AWS_SECRET_ACCESS_KEY: 'bench-secret-key',
  AWS_SESSION_TOKEN: 'bench-session-token',
  // Node 20 here; Lambda runs Node 22, where the SDK has no version notice to print.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

const IMPORT_SCRIPT = [
  'const started = performance.now();',
  'await import(process.argv[1]);',
  'const ms = performance.now() - started;',
  "process.stdout.write('\\nBENCH ' + JSON.stringify({ ms }) + '\\n');",
].join('\n');

/**
 * Rounds by default: with 11, a bundle's median moved by up to ±0.03 from one run to the next on a 2-core
 * machine (1.14–1.23 across bundles of about the same size); 21 halve that.
 */
const DEFAULT_ROUNDS = 21;

export async function benchColdStart(options: { rounds?: number; log?: (line: string) => void } = {}) {
  const rounds = Math.max(9, options.rounds ?? DEFAULT_ROUNDS);
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = mkdtempSync(join(tmpdir(), 'roaming-bundles-'));
  try {
    const environments = stackEnvironments();
    const names = [...ROUTES.map((route) => route.name), 'notFound', 'sweep'];
    const bareEntry = join(PROJECT_ROOT, 'bench', 'bare-client-entry.ts');
    const floor = await bundle(bareEntry, join(dir, 'bare'), { aliases: false });
    const envOnlyFloor = await bundle(bareEntry, join(dir, 'bare-env-only'));
    const bundles = new Map<string, Built>();
    for (const name of names) bundles.set(name, await bundle(lambdaEntry(name), join(dir, name)));
    log(
      `Cold start: importing ${names.length} bundles and the floor, ${rounds} rounds, Node ${process.version}`,
    );

    const floorMs: number[] = [];
    const envOnlyFloorMs: number[] = [];
    type Sample = { ms: number[]; ratios: number[]; envOnlyRatios: number[] };
    const samples = new Map<string, Sample>(
      names.map((name) => [name, { ms: [], ratios: [], envOnlyRatios: [] }]),
    );
    for (let round = 0; round < rounds; round++) {
      const envOnly = importMs(envOnlyFloor.file, environments.get('fetchHistory') ?? {});
      envOnlyFloorMs.push(envOnly);
      for (const name of names) {
        const env = environments.get(name) ?? {};
        const bare = importMs(floor.file, env);
        const ms = importMs((bundles.get(name) as Built).file, env);
        floorMs.push(bare);
        const sample = samples.get(name) as Sample;
        sample.ms.push(ms);
        sample.ratios.push(ms / bare);
        sample.envOnlyRatios.push(ms / envOnly);
      }
    }
    const figures: ColdStartFigures = {
      node: process.version,
      rounds,
      floor: { name: BARE_CLIENT, bytes: floor.bytes, importMs: spreadOf(floorMs) },
      envOnlyFloor: { name: ENV_ONLY_CLIENT, bytes: envOnlyFloor.bytes, importMs: spreadOf(envOnlyFloorMs) },
      bundles: names.map((name) => {
        const built = bundles.get(name) as Built;
        const sample = samples.get(name) as Sample;
        return {
          name,
          bytes: built.bytes,
          largest: built.largest,
          importMs: spreadOf(sample.ms),
          ratio: spreadOf(sample.ratios),
          ratioToEnvOnlyFloor: spreadOf(sample.envOnlyRatios),
        };
      }),
      sourceMaps: measureSourceMaps(
        bundles.get('fetchHistory') as Built,
        environments.get('fetchHistory') ?? {},
        rounds,
      ),
    };
    printColdStart(figures, log);
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Built {
  file: string;
  bytes: number;
  mapBytes: number;
  largest: { input: string; bytes: number }[];
}

async function bundle(entry: string, outDir: string, options = { aliases: true }): Promise<Built> {
  const file = join(outDir, 'index.mjs');
  const result = await build({
    ...esbuildOptionsOf(entry, file),
    ...(options.aliases ? {} : { alias: {} }),
    metafile: true,
    logLevel: 'error',
  });
  return {
    file,
    bytes: statSync(file).size,
    mapBytes: statSync(`${file}.map`).size,
    largest: largestInputs(result.metafile as Metafile),
  };
}

/** The bundle's bytes by package (node_modules) or project folder, from esbuild's metafile. */
function largestInputs(metafile: Metafile): { input: string; bytes: number }[] {
  const output = Object.values(metafile.outputs).find((o) => o.entryPoint !== undefined);
  const byInput = new Map<string, number>();
  for (const [path, input] of Object.entries(output?.inputs ?? {})) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
    const key = pkg ?? path.split('/').slice(0, 2).join('/');
    byInput.set(key, (byInput.get(key) ?? 0) + input.bytesInOutput);
  }
  return [...byInput]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([input, bytes]) => ({ input, bytes }));
}

/**
 * Each function's environment as the stack sets it (the synthesized template; values CloudFormation
 * resolves at deploy time get a stand-in), plus the Lambda runtime's own variables.
 */
function stackEnvironments(): Map<string, Record<string, string>> {
  // The nested stacks spliced in: the admin routes' functions are in AdminApi.
  const { whole: template } = synthesize();
  const functions = template.findResources('AWS::Lambda::Function');
  const environments = new Map<string, Record<string, string>>();
  for (const [name, id] of functionIds(template)) {
    const variables = (functions[id]?.Properties?.Environment?.Variables ?? {}) as Record<string, unknown>;
    const env: Record<string, string> = {
      ...LAMBDA_RUNTIME_ENV,
      AWS_LAMBDA_FUNCTION_NAME: `roaming-${name}`,
    };
    for (const [key, value] of Object.entries(variables)) {
      env[key] =
        typeof value === 'string' ? value : `bench-stand-in-for-${key.toLowerCase()}-${'x'.repeat(24)}`;
    }
    environments.set(name, env);
  }
  return environments;
}

/** One fresh process: the time from the start of the bundle's import to its end, in ms. */
function importMs(file: string, env: Record<string, string>): number {
  return runProbe(IMPORT_SCRIPT, file, env).ms as number;
}

/** Runs `script` in a fresh Node with only `env` (and PATH); it prints `BENCH {json}`. */
function runProbe(script: string, file: string, env: Record<string, string>): Record<string, number> {
  const childEnv = { PATH: process.env.PATH ?? '', ...env };
  const result = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', script, pathToFileURL(file).href],
    {
      env: childEnv,
      cwd: tmpdir(),
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  const line = result.stdout.split('\n').find((l) => l.startsWith('BENCH '));
  if (result.status !== 0 || !line) {
    throw new Error(`Probe of ${file} failed (${result.status}): ${result.stderr.slice(0, 2000)}`);
  }
  return JSON.parse(line.slice('BENCH '.length)) as Record<string, number>;
}

/**
 * The history function with and without --enable-source-maps: its import, and a request failing with a
 * 500 (a store that refuses every request; the ERROR log line carries the stack, which Node maps through
 * the source map when enabled), first and second time.
 */
const ERROR_PATH_SCRIPT = [
  "import { createServer } from 'node:http';",
  'const server = createServer((req, res) => {',
  '  req.resume();',
  "  req.on('end', () => {",
  "    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });",
  "    res.end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'refused by the bench' }));",
  '  });',
  '});',
  "await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));",
  "process.env.DYNAMODB_ENDPOINT = 'http://127.0.0.1:' + server.address().port;",
  'let started = performance.now();',
  'const { handler } = await import(process.argv[1]);',
  'const importMs = performance.now() - started;',
  'const event = {',
  "  version: '2.0', routeKey: 'GET /v1/conversations/{chatType}/{convId}/messages',",
  "  rawPath: '/v1/conversations/single/bob/messages', rawQueryString: '', headers: {}, isBase64Encoded: false,",
  "  pathParameters: { chatType: 'single', convId: 'bob' },",
  "  requestContext: { requestId: 'bench', http: { method: 'GET', path: '/v1/conversations/single/bob/messages' },",
  "    authorizer: { jwt: { claims: { sub: 'alice' }, scopes: [] } } },",
  '};',
  "const context = { awsRequestId: 'bench', functionName: 'fetchHistory', getRemainingTimeInMillis: () => 10000 };",
  'started = performance.now();',
  'const first = await handler(event, context);',
  'const firstErrorMs = performance.now() - started;',
  'started = performance.now();',
  'await handler(event, context);',
  'const laterErrorMs = performance.now() - started;',
  'server.close();',
  "if (first.statusCode !== 500) throw new Error('expected a 500, got ' + first.statusCode);",
  "process.stdout.write('\\nBENCH ' + JSON.stringify({ importMs, firstErrorMs, laterErrorMs }) + '\\n');",
].join('\n');

function measureSourceMaps(built: Built, env: Record<string, string>, rounds: number): SourceMapFigures {
  const runs = { with: [] as Record<string, number>[], without: [] as Record<string, number>[] };
  const { NODE_OPTIONS: _stacks, ...without } = env;
  const withMaps = { ...without, NODE_OPTIONS: '--enable-source-maps' };
  for (let round = 0; round < rounds; round++) {
    runs.without.push(runProbe(ERROR_PATH_SCRIPT, built.file, without));
    runs.with.push(runProbe(ERROR_PATH_SCRIPT, built.file, withMaps));
  }
  const of = (side: 'with' | 'without', key: string) => spreadOf(runs[side].map((r) => r[key] as number));
  return {
    bundle: 'fetchHistory',
    mapBytes: built.mapBytes,
    importRatio: spreadOf(
      runs.with.map((r, i) => (r.importMs as number) / (runs.without[i]?.importMs as number)),
    ),
    importMsWith: of('with', 'importMs'),
    importMsWithout: of('without', 'importMs'),
    firstErrorMsWith: of('with', 'firstErrorMs'),
    firstErrorMsWithout: of('without', 'firstErrorMs'),
    laterErrorMsWith: of('with', 'laterErrorMs'),
    laterErrorMsWithout: of('without', 'laterErrorMs'),
  };
}

function printColdStart(figures: ColdStartFigures, log: (line: string) => void): void {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
  log(
    `  floor (${figures.floor.name}): ${kb(figures.floor.bytes)}, import ${formatSpread(figures.floor.importMs, 1, ' ms')}`,
  );
  const envOnly = figures.envOnlyFloor;
  log(
    `  second reference (${envOnly.name}): ${kb(envOnly.bytes)}, import ${formatSpread(envOnly.importMs, 1, ' ms')}`,
  );
  log(
    `  ${'function'.padEnd(20)} ${'ratio (p25–p75)'.padEnd(20)} ${'to 2nd reference'.padEnd(20)} ${'import ms'.padEnd(22)} size    largest inputs`,
  );
  for (const b of figures.bundles) {
    const largest = b.largest
      .slice(0, 3)
      .map((i) => `${i.input} ${kb(i.bytes)}`)
      .join(', ');
    log(
      `  ${b.name.padEnd(20)} ${`${formatSpread(b.ratio)}×`.padEnd(20)} ${`${formatSpread(b.ratioToEnvOnlyFloor)}×`.padEnd(20)} ${formatSpread(b.importMs, 1).padEnd(22)} ${kb(b.bytes).padEnd(7)} ${largest}`,
    );
  }
  const s = figures.sourceMaps;
  log(`  source maps (${s.bundle}, map ${kb(s.mapBytes)}), with --enable-source-maps vs without:`);
  log(
    `    import: ${formatSpread(s.importRatio)}× (${formatSpread(s.importMsWith, 1)} vs ${formatSpread(s.importMsWithout, 1)} ms)`,
  );
  log(
    `    first 500 with its stack logged: ${formatSpread(s.firstErrorMsWith, 1)} vs ${formatSpread(s.firstErrorMsWithout, 1)} ms; ` +
      `a later one: ${formatSpread(s.laterErrorMsWith, 1)} vs ${formatSpread(s.laterErrorMsWithout, 1)} ms`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rounds = Number(process.argv[2]);
  runBenchmarks(async () => {
    await benchColdStart(Number.isFinite(rounds) && rounds > 0 ? { rounds } : {});
  });
}
