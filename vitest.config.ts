import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.test.ts', 'src/**/*.test.ts', 'properties/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
    // issue 15.5: the test files share their workers' module graph instead of importing
    // it afresh per file (import was a fifth of the suite's time). Every test builds its
    // own machines; what modules keep between files is memoised, pure data (assembled
    // lines, arbitraries) or buffers handed on explicitly (lockstep.ts `release`).
    isolate: false,
    // vitest's default is one worker per core but one, which on a 2-core machine runs
    // the files one after another while the main process idles.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
