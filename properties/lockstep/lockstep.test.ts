// The lockstep differ itself: it must say "equivalent" for the examples on native, and
// for a deliberately perturbed engine report exactly the first diverging step and field.

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { Engine, HostEvent, Image, MachineConfig, StepOutcome } from '../../spec/observation.ts';
import { NativeEngine } from '../../src/engines/native.ts';
import { lockstep } from './lockstep.ts';
import { formatDivergence } from './report.ts';

const examples = new URL('../../examples/', import.meta.url).pathname;
const load = (name: string) => {
  const { image } = assemble(readFileSync(examples + name, 'utf8'), name);
  let events: HostEvent[] = [];
  try {
    events = JSON.parse(readFileSync(examples + name.replace(/\.s$/, '.events.json'), 'utf8')) as HostEvent[];
  } catch {
    events = [];
  }
  return { image, events };
};

/** The spec, with one perturbation applied after `atStep` steps. */
class Perturbed extends SpecMachine {
  private n = 0;
  constructor(
    image: Image,
    config: MachineConfig,
    private readonly atStep: number,
    private readonly perturb: (m: SpecMachine) => void,
  ) {
    super(image, config);
  }
  private more: [number, (m: SpecMachine) => void][] = [];
  /** A second perturbation after `atStep` steps. */
  also(atStep: number, perturb: (m: SpecMachine) => void): this {
    this.more.push([atStep, perturb]);
    return this;
  }
  override step(): StepOutcome {
    const out = super.step();
    if (++this.n === this.atStep) this.perturb(this);
    for (const [at, p] of this.more) if (this.n === at) p(this);
    return out;
  }
}

const program = assemble(`
  mov esp, 0x8000
  mov ecx, 20
l: push ecx
  pop eax
  mov [0x3000], eax
  dec ecx
  jnz l
  hlt
`).image;
const config = { ramBytes: 64 * 1024 };

describe('lockstep', () => {
  test.each(readdirSync(examples).filter((f) => f.endsWith('.s')))('native ≡ spec on examples/%s', (name) => {
    const { image, events } = load(name);
    const r = lockstep((i, c) => new NativeEngine(i, c), { image, config: { ramBytes: 1 << 20 }, events, maxSteps: 20_000 });
    expect(r.divergence && formatDivergence(r.divergence, 'native')).toBeUndefined();
  });

  test('a register perturbed after step 7 is reported at step 6 (0-based) with the field', () => {
    const make = (i: Image, c: MachineConfig): Engine => new Perturbed(i, c, 7, (m) => (m.s.regs[3] = 0xdead));
    const r = lockstep(make, { image: program, config, events: [], maxSteps: 1000 });
    expect(r.divergence?.step).toBe(6);
    expect(r.divergence?.fields.map((f) => f.path)).toEqual(['regs.ebx']);
  });

  test('a RAM byte perturbed between checkpoints is pinned to its exact step and address', () => {
    const make = (i: Image, c: MachineConfig): Engine => new Perturbed(i, c, 11, (m) => (m.mem.ram[0x4321] = 7));
    const r = lockstep(make, { image: program, config, events: [], maxSteps: 1000 }, { ramStride: 16 });
    expect(r.divergence?.step).toBe(10);
    expect(r.divergence?.fields.map((f) => f.path)).toEqual(['ram[0x4321]']);
    expect(formatDivergence(r.divergence!, 'perturbed')).toMatch(/first divergence at step 10: /);
  });

  test('RAM perturbed, then a register three steps later: the first divergence is the RAM one (DESIGN §2)', () => {
    // Steps 10 and 13 both fall between checkpoints 0 and 16: at step 13 the register shows
    // first, and RAM differs too, so the step where RAM began to differ is the first.
    const make = (i: Image, c: MachineConfig): Engine =>
      new Perturbed(i, c, 11, (m) => (m.mem.ram[0x4321] = 7)).also(14, (m) => (m.s.regs[3] = 0xdead));
    for (const compare of ['fast', 'full'] as const) {
      const r = lockstep(make, { image: program, config, events: [], maxSteps: 1000 }, { ramStride: 16, compare });
      expect(r.divergence?.step).toBe(10);
      expect(r.divergence?.fields.map((f) => f.path)).toEqual(['ram[0x4321]']);
    }
  });

  test('an engine that throws is a divergence, not a crash', () => {
    const make = (i: Image, c: MachineConfig): Engine =>
      new Perturbed(i, c, 3, () => {
        throw new Error('host crashed');
      });
    for (const compare of ['fast', 'full'] as const) {
      const r = lockstep(make, { image: program, config, events: [], maxSteps: 1000 }, { compare });
      expect(r.divergence?.step).toBe(2);
      expect(r.divergence?.outcome.engine).toBe('threw');
      expect(r.divergence?.error).toBe('host crashed');
      // The exact first line other tools look for (issue 14: "engine crashed: <message>").
      expect(formatDivergence(r.divergence!, 'perturbed').split('\n')[0]).toBe('engine crashed: host crashed');
    }
  });

  test('events fire on both sides at the same boundary', () => {
    const { image, events } = load('timer.s');
    const r = lockstep((i, c) => new SpecMachine(i, c), { image, config: { ramBytes: 1 << 20 }, events, maxSteps: 5000 });
    expect(r.divergence).toBeUndefined();
    expect(r.spec.trace.filter((e) => e.kind === 'interrupt')).toHaveLength(5);
  });
});
