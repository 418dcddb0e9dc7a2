// The fast lockstep (fingerprints per step, observations at checkpoints, a full re-run on
// any mismatch) reports exactly what the full per-step comparison reports (issue 15,
// DESIGN §2: the FIRST diverging step, with its fields): on generated guests with catalog
// bugs switched on, and on an engine whose difference lasts a single step.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import type { Image, MachineConfig } from '../../spec/observation.ts';
import { NativeEngine } from '../../src/engines/native.ts';
import { engineFactory } from '../../src/engines/registry.ts';
import { runsOf } from '../budget.ts';
import { caseArb } from '../check/cases.ts';
import { lockstep, type Divergence, type LockstepCase } from './lockstep.ts';

/** What a report says: everything but the two observations, which `fields` already sums up. */
const finding = (d: Divergence | undefined) =>
  d && { step: d.step, insn: d.insn, eip: d.eip, outcome: d.outcome, fired: d.fired, fields: d.fields, error: d.error };

const BUGGY: readonly { engine: string; bugs: readonly string[] }[] = [
  { engine: 'native', bugs: ['pf-no-user-bit'] },
  { engine: 'native', bugs: ['sti-shadow-ignored', 'tlb-stale-after-pt-write'] },
  { engine: 'vmx-shadow', bugs: ['no-write-protect', 'ad-not-set'] },
  { engine: 'vmx-shadow', bugs: ['pending-irq-lost', 'host-cr-leak'] },
];

test.each(BUGGY)('fast and full comparison report the same first divergence: $engine with $bugs', ({ engine, bugs }) => {
  const make = engineFactory(engine);
  let diverged = 0;
  fc.assert(
    fc.property(caseArb, (c) => {
      const run: LockstepCase = {
        image: c.image,
        config: { ramBytes: c.ramBytes },
        events: c.events,
        maxSteps: c.maxSteps,
      };
      const withBugs = (image: Image, config: MachineConfig) => make(image, { ...config, bugs });
      const fast = lockstep(withBugs, run);
      const full = lockstep(withBugs, run, { compare: 'full' });
      if (full.divergence) diverged++;
      expect(finding(fast.divergence)).toEqual(finding(full.divergence));
      expect(fast.steps).toBe(full.steps);
    }),
    { seed: 0x15, numRuns: runsOf(20) },
  );
  // Not vacuous: the bugs made some of the guests diverge.
  expect(diverged).toBeGreaterThan(0);
});

/** Native with ebx flipped after step `at` and flipped back after the next: a difference that lasts one step. */
class Flicker extends NativeEngine {
  private n = 0;
  constructor(
    image: Image,
    config: MachineConfig,
    private readonly at: number,
  ) {
    super(image, config);
  }
  override step() {
    const out = super.step();
    this.n++;
    if (this.n === this.at || this.n === this.at + 1) this.cpu.regs[3]! ^= 0x100;
    return out;
  }
}

test('a difference that lasts one retired step between checkpoints is found at that step by both', () => {
  const { image } = assemble(`
    mov ecx, 30
  l: add eax, 3
    dec ecx
    jnz l
    hlt
  `);
  const run: LockstepCase = { image, config: { ramBytes: 0x10000 }, events: [], maxSteps: 1000 };
  const make = (i: Image, c: MachineConfig) => new Flicker(i, c, 9);
  const fast = lockstep(make, run);
  const full = lockstep(make, run, { compare: 'full' });
  expect(full.divergence?.step).toBe(8);
  expect(full.divergence?.fields.map((f) => f.path)).toEqual(['regs.ebx']);
  expect(finding(fast.divergence)).toEqual(finding(full.divergence));
});
