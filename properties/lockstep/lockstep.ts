// The lockstep differ (DESIGN §2, §7): run the spec and an engine side by side, fire the
// same host events at the same boundaries, compare after every step, and report the
// FIRST divergence. The schedule rules are DESIGN §3.8/§3.10.8–9, driven from here so
// both sides see exactly the same events at the same points.

import { SpecMachine, sortSchedule } from '../../spec/machine.ts';
import { disassembleInsn } from '../../spec/asm/disassemble.ts';
import type { Engine, HostEvent, Image, MachineConfig, Observation, StepOutcome } from '../../spec/observation.ts';
import { diffState, firstRamDifference, ramDiff, type FieldDiff } from './compare.ts';

import type { EngineFactory } from '../../src/engines/engine.ts';

export interface LockstepCase {
  image: Image;
  config: MachineConfig;
  events: readonly HostEvent[];
  maxSteps: number;
}

export interface Divergence {
  /** Steps completed before the diverging one (0-based index of the diverging step). */
  step: number;
  /** The instruction the spec was about to execute, disassembled (or why it could not be read). */
  insn: string;
  eip: number;
  outcome: { spec: StepOutcome | 'threw'; engine: StepOutcome | 'threw' };
  /** Host events fired at this boundary, before the step. */
  fired: HostEvent[];
  fields: FieldDiff[];
  spec: Observation;
  engine: Observation;
  /** Set when the engine threw: the host did not survive (DESIGN §6.14). */
  error?: string;
}

export interface LockstepResult {
  divergence: Divergence | undefined;
  steps: number;
  spec: Observation;
  engine: Observation;
}

export interface LockstepOptions {
  /**
   * Compare RAM every `ramStride` steps (and at the end). A RAM difference found at a
   * checkpoint is pinned to its exact step by re-running deterministically with stride 1.
   */
  ramStride?: number;
}

export function lockstep(makeEngine: EngineFactory, c: LockstepCase, opts: LockstepOptions = {}): LockstepResult {
  const stride = opts.ramStride ?? 16;
  const first = runLockstep(makeEngine, c, stride, Infinity);
  if (first.divergence || stride === 1 || first.ramCheckFailedAt === undefined) return first;
  // A RAM difference surfaced at a checkpoint: find the step that caused it.
  return runLockstep(makeEngine, c, 1, first.ramCheckFailedAt);
}

interface Internal extends LockstepResult {
  ramCheckFailedAt?: number;
}

function runLockstep(makeEngine: EngineFactory, c: LockstepCase, stride: number, until: number): Internal {
  const spec = new SpecMachine(c.image, c.config);
  const engine = makeEngine(c.image, c.config);
  const queue = sortSchedule(c.events);
  let next = 0;
  let steps = 0;
  let sinceRam = 0;

  const diverge = (
    fired: HostEvent[],
    eip: number,
    insn: string,
    so: StepOutcome | 'threw',
    eo: StepOutcome | 'threw',
    error?: string,
  ): Internal => {
    const a = spec.observe();
    const b = safeObserve(engine, a);
    const fields = diffState(a, b);
    const addr = firstRamDifference(a.ram, b.ram);
    if (addr !== undefined) fields.push(ramDiff(a, b, addr));
    const divergence: Divergence = { step: steps, insn, eip, outcome: { spec: so, engine: eo }, fired, fields, spec: a, engine: b };
    if (error !== undefined) divergence.error = error;
    return { divergence, steps, spec: a, engine: b };
  };

  for (;;) {
    const fired: HostEvent[] = [];
    while (next < queue.length && queue[next]!.at <= spec.icount()) fired.push(queue[next++]!);
    if (steps >= c.maxSteps) break;
    const eip = spec.s.eip;
    const bytes = spec.peekInsn();
    const insn = bytes ? disassembleInsn(bytes) : '(fetch faults)';
    let eo: StepOutcome | 'threw';
    let error: string | undefined;
    try {
      for (const e of fired) engine.fire(e);
      eo = engine.step();
    } catch (e) {
      eo = 'threw';
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    for (const e of fired) spec.fire(e);
    const so = spec.step();
    if (so !== eo) return diverge(fired, eip, insn, so, eo, error);
    const a = spec.observe();
    const b = engine.observe();
    const fields = diffState(a, b);
    sinceRam++;
    const lastStep = so === 'shutdown' || (so === 'halted' && next >= queue.length) || steps + (so === 'halted' ? 0 : 1) >= c.maxSteps;
    if (fields.length === 0 && (sinceRam >= stride || lastStep || steps + 1 >= until)) {
      sinceRam = 0;
      if (firstRamDifference(a.ram, b.ram) !== undefined) {
        if (stride === 1) return diverge(fired, eip, insn, so, eo);
        return { divergence: undefined, steps, spec: a, engine: b, ramCheckFailedAt: steps + 1 };
      }
    }
    if (fields.length > 0) return diverge(fired, eip, insn, so, eo);
    if (so === 'shutdown') break;
    if (so === 'halted') {
      if (next >= queue.length) break;
      // Time jumps to the next event (§3.8): fire everything due then, on both sides.
      const t = queue[next]!.at;
      const jump: HostEvent[] = [];
      while (next < queue.length && queue[next]!.at === t) jump.push(queue[next++]!);
      for (const e of jump) {
        spec.fire(e);
        engine.fire(e);
      }
      continue;
    }
    steps++;
  }
  return { divergence: undefined, steps, spec: spec.observe(), engine: engine.observe() };
}

/** An engine that threw may not be able to describe itself; fall back to a marker. */
function safeObserve(engine: Engine, like: Observation): Observation {
  try {
    return engine.observe();
  } catch {
    return { ...like, status: 'running', console: '<engine could not be observed>', ram: new Uint8Array(like.ram.length) };
  }
}
