// The tests Stryker runs against each mutant of the reference model (stryker.spec.config.json):
// the hand-derived conformance tests and the access matrix — fast, and the ones that
// must fail when a rule of DESIGN §3 is broken.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/conformance/**/*.test.ts', 'properties/access-matrix/spec.test.ts', 'properties/access-matrix/oracle.test.ts'],
    testTimeout: 60_000,
  },
});
