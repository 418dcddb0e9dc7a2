// Efficiency (Popek & Goldberg's third condition, DESIGN §7): after warm-up, innocuous
// guest instructions retire natively with no exit. On the user-mode loop of the
// benchmark, once the working set is shadowed, a million further instructions take no
// exit at all, and every instruction of the run retired natively but a handful.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';

test('user loop: no exit after warm-up', () => {
  const { image } = assemble(readFileSync('examples/bench/user-loop.s', 'utf8'), 'user-loop.s');
  const e = new VmxShadowEngine(image, { ramBytes: 1 << 20 });
  e.run([], 200_000);
  const warm = e.counters();
  e.run([], 1_000_000);
  const hot = e.counters();
  const exits = hot.exits! - warm.exits!;
  const instructions = hot.instructions! - warm.instructions!;
  expect(instructions).toBeGreaterThanOrEqual(1_000_000);
  // One exit per run() call: the step budget (the preemption timer) running out.
  expect(exits).toBeLessThanOrEqual(1);
  expect(hot.nativeRetired! / hot.instructions!).toBeGreaterThan(0.9999);
});
