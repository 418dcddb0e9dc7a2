// The tests Stryker runs against each mutant of the VMMs (stryker.config.json, `npm run
// mutation`): the unit tests of src/vmm and the properties that drive the VMMs against
// the spec — equivalence, transparency, audit, isolation, noninterference, the access
// matrix plain and rewritten, every catalog bug caught — at the reduced counts of properties/budget.ts, one thread.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'tests/vmm/**/*.test.ts',
      'tests/vmx-ept/**/*.test.ts',
      'tests/interpret/**/*.test.ts',
      'tests/trap-emulate/**/*.test.ts',
      'properties/vmx-shadow.test.ts',
      'properties/vmx-shadow-access-matrix.test.ts',
      'properties/vmx-ept.test.ts',
      'properties/vmx-ept-isolation.test.ts',
      'properties/vmx-ept-access-matrix.test.ts',
      'properties/interpret.test.ts',
      'properties/access-matrix/rewrite.test.ts',
      'properties/trap-emulate.test.ts',
      // The catalog's bugs switched on: a mutant that disables a switch is caught here.
      'properties/check/bugs.test.ts',
      'properties/vmm-bugs.test.ts',
    ],
    env: { POPEK_QUICK: '1' },
    testTimeout: 120_000,
  },
});
