import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Tests share one DynamoDB Local process (one table per file); two cores, so keep workers few.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Quiet: no request log lines or EMF metrics in the test output (tests that read logs turn them on).
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
