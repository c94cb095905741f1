import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Migrated template databases and shared test keys for the run (see test/helpers/dbTemplate.ts),
    // and the admin console's bundle the browser tests load.
    globalSetup: ['test/helpers/globalSetup.ts', 'test/helpers/consoleBuild.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
