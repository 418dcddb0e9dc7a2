// The exhaustive access matrix (properties/access-matrix) on vmx-shadow: every legal
// combination of PDE/PTE flags, CR0.WP, CR4.PSE, ring and access kind must match the
// DESIGN §3.5 oracle through the shadow MMU — fault or not, error code, CR2, the guest's
// A/D bits afterwards — and catalog bugs of the walker show up in it.

import { expect, test } from 'vitest';
import { VmxShadowEngine } from '../src/engines/vmx-shadow.ts';
import { LEGAL_COUNT } from './access-matrix/matrix.ts';
import { describeFailure, runMatrix } from './access-matrix/run.ts';

test(`all ${LEGAL_COUNT} legal combinations match the oracle on vmx-shadow`, () => {
  const failures = runMatrix((image, config) => new VmxShadowEngine(image, config));
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
});

test.each(['pde-perms-ignored', 'cr0-wp-ignored'])('the matrix catches %s', (bug) => {
  const failures = runMatrix((image, config) => new VmxShadowEngine(image, { ...config, bugs: [bug] }));
  expect(failures.length).toBeGreaterThan(0);
});
