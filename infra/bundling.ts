import type { BuildOptions } from 'esbuild';

/**
 * How every Lambda function is bundled, in one place: the CDK stack (constructs/handler-function.ts)
 * passes these to NodejsFunction, which runs the project's esbuild with them, and `npm run bench`
 * builds the same bundles by calling esbuild with `esbuildOptionsOf` (no CDK, no Docker) to time their
 * cold start. Each field maps one-to-one to a NodejsFunction bundling option and an esbuild option.
 */
export const LAMBDA_BUNDLE = {
  /** Node.js 22, the functions' runtime. */
  target: 'node22',
  /** ESM: the SDK's ES modules are tree-shaken (NodejsFunction: OutputFormat.ESM). */
  format: 'esm',
  /** Prefer packages' ES module builds (smaller bundles than their CommonJS). */
  mainFields: ['module', 'main'],
  /** `require` for the CommonJS dependencies bundled into the ESM output. */
  banner:
    "import { createRequire as __roamingCreateRequire } from 'node:module'; const require = __roamingCreateRequire(import.meta.url);",
  minify: true,
  /**
   * Left out of every bundle and loaded from the Lambda runtime, which ships AWS SDK v3: the Lambda
   * client, which only startSweep uses, once per admin start (a dynamic import in
   * functions/lambda-invoke.ts). Bundled, its 121 KB made that function's cold start 1.36× the bare
   * DynamoDB client's, for a call no cold start makes. Everything else is bundled at the pinned versions.
   */
  externalModules: ['@aws-sdk/client-lambda'],
  /**
   * A source map is written next to each bundle (with names and positions, without the sources) so a
   * minified stack trace from the logs can be mapped offline; the functions do not load it at run time
   * (no --enable-source-maps: see bench/README.md, "Source maps", for the figures behind the choice).
   */
  sourceMap: true,
  sourcesContent: false,
} as const;

/** The esbuild options NodejsFunction derives from LAMBDA_BUNDLE, for building a bundle directly. */
export function esbuildOptionsOf(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: LAMBDA_BUNDLE.target,
    format: LAMBDA_BUNDLE.format,
    mainFields: [...LAMBDA_BUNDLE.mainFields],
    banner: { js: LAMBDA_BUNDLE.banner },
    minify: LAMBDA_BUNDLE.minify,
    external: [...LAMBDA_BUNDLE.externalModules],
    sourcemap: LAMBDA_BUNDLE.sourceMap,
    sourcesContent: LAMBDA_BUNDLE.sourcesContent,
    logLevel: 'warning',
  };
}
