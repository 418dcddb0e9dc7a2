// The arbitrary of "one instruction in one machine state" (README.md): the parts drawn
// independently (so fast-check shrinks each), an irq perhaps, timed from the end of the
// prologue, and a value that prints as the program.

import fc from 'fast-check';
import { insnArb } from './insn.ts';
import { MAX_STEPS, RAM_BYTES } from './layout.ts';
import { pagingArb } from './paging.ts';
import { pick } from './pools.ts';
import { prologueSteps, render } from './render.ts';
import { frameArb, idtArb, stateArb, type InsnCase } from './state.ts';

/** None, or one irq 0–3 instructions after the prologue (the STI shadow, popf, hlt). */
const irqArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.record({
      offset: pick(0, 0, 1, 1, 2, 3),
      vector: fc.oneof(pick(0x20, 0x21, 0xff, 0x80), fc.integer({ min: 32, max: 255 })),
    }),
  },
);

/** The arbitrary of "one instruction in one machine state". Its values print as programs. */
export const insnCaseArb: fc.Arbitrary<InsnCase> = fc
  .record({ state: stateArb, paging: pagingArb, idt: idtArb, insn: insnArb, frame: frameArb, irq: irqArb })
  .map((parts) => {
    const c: InsnCase = { ...parts, ramBytes: RAM_BYTES, maxSteps: MAX_STEPS, events: [] };
    c.events = parts.irq ? [{ at: prologueSteps(c) + parts.irq.offset, kind: 'irq', vector: parts.irq.vector }] : [];
    // fast-check prints a counterexample with this: the program, ready for `popek run`.
    Object.defineProperty(c, fc.toStringMethod, { value: () => render(c), enumerable: false });
    return c;
  });
