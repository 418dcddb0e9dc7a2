// The exhaustive access matrix (properties/access-matrix) on vmx-shadow: every legal
// combination of PDE/PTE flags, CR0.WP, CR4.PSE, ring and access kind must match the
// DESIGN §3.5 oracle through the shadow MMU — fault or not, error code, CR2, the guest's
// A/D bits afterwards — and catalog bugs of the walker show up in it.

import { expect, test } from 'vitest';
import { VmxShadowEngine } from '../src/engines/vmx-shadow.ts';
import { LEGAL_COUNT, has, legalCombos, type Combo } from './access-matrix/matrix.ts';
import { describeFailure, runMatrix } from './access-matrix/run.ts';
import { sampleOf } from './budget.ts';

test(`all ${LEGAL_COUNT} legal combinations match the oracle on vmx-shadow`, () => {
  const failures = runMatrix((image, config) => new VmxShadowEngine(image, config));
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
});

/**
 * Each bug runs on the combinations its rule is about (the full matrix above already
 * showed the rest agree): PDE permissions need a PDE that forbids something; CR0.WP only
 * matters for supervisor writes.
 */
const about: Record<string, (c: Combo) => boolean> = {
  'pde-perms-ignored': (c) => has(c, 'pde.p') && (!has(c, 'pde.us') || !has(c, 'pde.rw')),
  'cr0-wp-ignored': (c) => has(c, 'cr0.wp') && has(c, 'write') && !has(c, 'user'),
};

test.each(Object.keys(about))('the matrix catches %s', (bug) => {
  const failures = runMatrix((image, config) => new VmxShadowEngine(image, { ...config, bugs: [bug] }), {
    combos: sampleOf(legalCombos().filter(about[bug]!)),
  });
  expect(failures.length).toBeGreaterThan(0);
});
