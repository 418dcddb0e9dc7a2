// The exhaustive access matrix on the native engine (src/hw, a real TLB): every legal
// combination must match the DESIGN §3.5 oracle, exactly as on the spec.

import { expect, test } from 'vitest';
import { NativeEngine } from '../../src/engines/native.ts';
import { LEGAL_COUNT } from './matrix.ts';
import { describeFailure, runMatrix } from './run.ts';

test(`all ${LEGAL_COUNT} legal combinations match the oracle on native`, () => {
  const failures = runMatrix((image, config) => new NativeEngine(image, config));
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
});

test('the matrix catches a wrong #PF error code in the hardware (pf-no-user-bit)', () => {
  const failures = runMatrix((image, config) => new NativeEngine(image, { ...config, bugs: ['pf-no-user-bit'] }));
  expect(failures.length).toBeGreaterThan(0);
  // Only user-mode faults carry U (§3.5.6), so every failing combination is a user access.
  for (const f of failures) expect(f.name).toMatch(/\buser\b/);
});
