// bt on the lecture's example programs (DESIGN §5 `bt`): equivalent to the spec in
// lockstep on every one — including popf.s and usermode.s, where trap-and-emulate diverges
// at the sensitive unprivileged instruction (tests/trap-emulate/examples.test.ts).

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import type { HostEvent } from '../../spec/observation.ts';
import { engineFactory } from '../../src/engines/registry.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { formatDivergence } from '../../properties/lockstep/report.ts';
import { stepsOf } from '../../properties/budget.ts';

const root = new URL('../../', import.meta.url);

function eventsOf(file: string): HostEvent[] {
  try {
    return JSON.parse(readFileSync(new URL(file.replace(/\.s$/, '.events.json'), root), 'utf8')) as HostEvent[];
  } catch {
    return []; // no events file: no events
  }
}

test.each([
  ['examples/hello.s', 100_000],
  ['examples/mmio.s', 100_000],
  ['examples/paging.s', 100_000],
  ['examples/popf.s', 100_000],
  ['examples/timer.s', 5_000],
  ['examples/triple-fault.s', 100_000],
  ['examples/usermode.s', 100_000],
  ['examples/bench/fork.s', 2_000],
])('%s: bt ≡ spec in lockstep', (file, maxSteps) => {
  const image = assemble(readFileSync(new URL(file, root), 'utf8'), file).image;
  const r = lockstep(engineFactory('bt'), { image, config: { ramBytes: 1 << 20 }, events: eventsOf(file), maxSteps: stepsOf(maxSteps) });
  expect(r.divergence && formatDivergence(r.divergence, 'bt')).toBeUndefined();
});
