import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The suites poll export status every 50 ms; the 429 for polls faster than Retry-After is
    // tested with it switched on (src/bulk/export-http.test.ts, "status polls").
    env: { BULK_STATUS_POLL_LIMIT: 'off' },
  },
});
