import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['spec/**/*.test.ts', 'src/**/*.test.ts', 'properties/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
