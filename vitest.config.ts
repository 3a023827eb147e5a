// vitest.config.ts: Node tests through Dawn. GPU tests share one software device, so files run one at a time
// (two processes on a 2-core machine would starve each other's driver threads).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    setupFiles: ['test/setup.ts'],
  },
});
