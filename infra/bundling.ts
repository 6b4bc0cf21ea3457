import type { BuildOptions } from 'esbuild';
import { PROJECT_ROOT } from './paths.js';

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
   * Modules replaced in every bundle. The SDK clients' default credential chain
   * (@aws-sdk/credential-provider-node) tries the environment, then SSO, ini files, processes, web
   * identity, the container and instance metadata, and so carries the STS, SSO and sign-in clients: 132
   * of the bare DynamoDB client's 334 KB, parsed at every cold start. On Lambda the execution role's
   * credentials are always in the environment, which is where that chain looks first, so the functions
   * take them from there alone (functions/store/env-credentials.ts). Tests and `npm start` run
   * unbundled, with the full chain.
   */
  aliases: { '@aws-sdk/credential-provider-node': './functions/store/env-credentials.ts' },
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
    // Aliases are paths from the project root: NodejsFunction runs esbuild there.
    absWorkingDir: PROJECT_ROOT,
    outfile,
    bundle: true,
    platform: 'node',
    target: LAMBDA_BUNDLE.target,
    format: LAMBDA_BUNDLE.format,
    mainFields: [...LAMBDA_BUNDLE.mainFields],
    banner: { js: LAMBDA_BUNDLE.banner },
    minify: LAMBDA_BUNDLE.minify,
    external: [...LAMBDA_BUNDLE.externalModules],
    alias: { ...LAMBDA_BUNDLE.aliases },
    sourcemap: LAMBDA_BUNDLE.sourceMap,
    sourcesContent: LAMBDA_BUNDLE.sourcesContent,
    logLevel: 'warning',
  };
}
