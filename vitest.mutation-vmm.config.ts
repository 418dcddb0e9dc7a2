// The tests Stryker runs against each mutant of the VMMs (stryker.config.json, `npm run
// mutation`): the unit tests of src/vmm and the properties that drive the VMMs against
// the spec — equivalence, transparency, audit, isolation, noninterference, single
// instructions in contrasting states (insn-states), the access
// matrix plain and rewritten, every catalog bug caught — at the reduced counts of
// properties/budget.ts, in one thread.
//
// A campaign on one part of src/vmm can name the tests that concern it, comma-separated,
// in POPEK_MUTATION_TESTS, e.g. for the shadow MMU:
//   POPEK_MUTATION_TESTS='tests/vmm/**/*.test.ts,properties/vmx-shadow*.test.ts' \
//     npx stryker run --mutate src/vmm/shadow/mmu.ts
import { defineConfig } from 'vitest/config';

const focus = process.env.POPEK_MUTATION_TESTS?.split(',').filter((g) => g !== '');

export default defineConfig({
  test: {
    include: focus ?? [
      'tests/vmm/**/*.test.ts',
      'tests/vmx-ept/**/*.test.ts',
      'tests/interpret/**/*.test.ts',
      'tests/trap-emulate/**/*.test.ts',
      'properties/vmx-shadow.test.ts',
      'properties/vmx-shadow-access-matrix.test.ts',
      'properties/vmx-ept.test.ts',
      'properties/vmx-ept-access-matrix.test.ts',
      'properties/interpret.test.ts',
      'properties/access-matrix/rewrite.test.ts',
      'properties/trap-emulate.test.ts',
      'properties/insn-states.test.ts',
      // The catalog's bugs switched on: a mutant that disables a switch is caught here.
      'properties/check/bugs.test.ts',
      'properties/vmm-bugs.test.ts',
    ],
    env: { POPEK_QUICK: '1' },
    testTimeout: 120_000,
  },
});
