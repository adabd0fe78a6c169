import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts throwaway PostgreSQL / MariaDB (or adopts CRMB_TEST_*_URL) once per run and removes them after.
    globalSetup: ['test/harness/global-setup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
  },
});
