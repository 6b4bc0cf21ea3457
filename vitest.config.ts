import { defineConfig } from 'vitest/config';

// The AWS SDK's notice that its releases after early 2027 need Node 22 (NodeVersionSupportWarning): the
// SDK pinned here supports Node 20 and Lambda runs Node 22, so nothing to act on. Off for this process
// (the global setup) and the test workers, with the variable the SDK reads; the local commands turn it
// off themselves (local/quiet-warnings.ts), and the process tests start them without this switch.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Tests share one DynamoDB Local process (one table per file); two cores, so keep workers few.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Quiet: no request log lines or EMF metrics in the test output (tests that read logs turn them on).
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
