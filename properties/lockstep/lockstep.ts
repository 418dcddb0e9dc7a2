// The lockstep differ (DESIGN §2, §7): run the spec and an engine side by side, fire the
// same host events at the same boundaries, compare after every step, and report the
// FIRST divergence. The schedule rules are DESIGN §3.8/§3.10.8–9, driven from here so
// both sides see exactly the same events at the same points.

import { SpecMachine, sortSchedule } from '../../spec/machine.ts';
import { disassembleInsn } from '../../spec/asm/disassemble.ts';
import type { Engine, HostEvent, Image, MachineConfig, Observation, StepOutcome } from '../../spec/observation.ts';
import { diffState, firstRamDifference, ramDiff, type FieldDiff } from './compare.ts';

import type { Disposing, EngineFactory, Fingerprinting } from '../../src/engines/engine.ts';
import { FINGERPRINT_SLOTS, sameFingerprint, specFingerprint } from './fingerprint.ts';

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
  /** The message of what the engine threw, when it did: the host did not survive (DESIGN §6.14). */
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
  /**
   * `fast` (the default): after each step compare the step outcomes and the fingerprints
   * of both sides (./fingerprint.ts) when the engine offers one; full observations only
   * at events, deliveries, halts, RAM checkpoints and the end. Any mismatch re-runs the
   * case with `full` comparison, deterministically, so the report is the same first step
   * and fields. `full`: observe and compare both sides after every step (the baseline
   * `popek bench --lockstep --baseline` measures).
   */
  compare?: 'fast' | 'full';
}

export function lockstep(makeEngine: EngineFactory, c: LockstepCase, opts: LockstepOptions = {}): LockstepResult {
  const stride = opts.ramStride ?? 16;
  if (opts.compare !== 'full') {
    const agreed = runFast(makeEngine, c, stride);
    if (agreed !== undefined) return agreed;
  }
  // The baseline keeps its engines to the garbage collector, as the differ did before (issue 15).
  const recycle = opts.compare !== 'full';
  const first = runLockstep(makeEngine, c, stride, Infinity, recycle);
  const d = first.divergence;
  // DESIGN §2 reports the first diverging step, and RAM is compared only every `stride`
  // steps: a divergence found in the registers at step n, with RAM differing as well, may
  // have begun in RAM before n (a pushf that pushed a wrong IF shows at the pop that reads
  // it). Pin it with stride 1; this costs a run only when RAM differs at the report.
  if (d !== undefined && stride > 1 && d.fields.some((f) => f.path.startsWith('ram[')))
    return runLockstep(makeEngine, c, 1, d.step + 1, recycle);
  if (d || stride === 1 || first.ramCheckFailedAt === undefined) return first;
  // A RAM difference surfaced at a checkpoint: find the step that caused it.
  return runLockstep(makeEngine, c, 1, first.ramCheckFailedAt, recycle);
}

interface Internal extends LockstepResult {
  ramCheckFailedAt?: number;
}

/** What an engine that threw says (the exact text other tools and reports rely on). */
const crashMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Whether this step ends the run (the same rule in both comparisons, so both check RAM at the same steps). */
function isLastStep(so: StepOutcome, steps: number, maxSteps: number, eventsLeft: boolean): boolean {
  return so === 'shutdown' || (so === 'halted' && !eventsLeft) || steps + (so === 'halted' ? 0 : 1) >= maxSteps;
}

// Reused by every fast run: a step allocates nothing.
const fpSpec = new Int32Array(FINGERPRINT_SLOTS);
const fpEngine = new Int32Array(FINGERPRINT_SLOTS);

/**
 * The fast comparison: undefined at the first sign of a difference (outcome, fingerprint,
 * observation at a checkpoint, RAM at the baseline's RAM checkpoints, an engine that
 * threw), else the agreed result, which is exactly what the full comparison would return.
 */
function runFast(makeEngine: EngineFactory, c: LockstepCase, stride: number): LockstepResult | undefined {
  const spec = new SpecMachine(c.image, c.config);
  const engine = makeEngine(c.image, c.config);
  const fp = typeof (engine as Partial<Fingerprinting>).fingerprint === 'function' ? (engine as Engine & Fingerprinting) : undefined;
  const queue = sortSchedule(c.events);
  let next = 0;
  let steps = 0;
  let sinceRam = 0;
  let jumped = false;
  try {
    for (;;) {
      const due = next;
      while (next < queue.length && queue[next]!.at <= spec.icount()) next++;
      if (steps >= c.maxSteps) break;
      for (let i = due; i < next; i++) engine.fire(queue[i]!);
      const eo = engine.step();
      for (let i = due; i < next; i++) spec.fire(queue[i]!);
      const so = spec.step();
      if (so !== eo) return undefined;
      sinceRam++;
      const lastStep = isLastStep(so, steps, c.maxSteps, next < queue.length);
      const ramCheck = sinceRam >= stride || lastStep;
      if (ramCheck || jumped || due !== next || so !== 'retired' || fp === undefined) {
        jumped = false;
        const a = spec.observe();
        const b = engine.observe();
        if (diffState(a, b).length > 0) return undefined;
        if (ramCheck) {
          sinceRam = 0;
          if (firstRamDifference(a.ram, b.ram) !== undefined) return undefined;
        }
      } else {
        specFingerprint(spec, fpSpec);
        fp.fingerprint(fpEngine);
        if (!sameFingerprint(fpSpec, fpEngine)) return undefined;
      }
      if (so === 'shutdown') break;
      if (so === 'halted') {
        if (next >= queue.length) break;
        // Time jumps to the next event (§3.8): fire everything due then, on both sides.
        const t = queue[next]!.at;
        for (; next < queue.length && queue[next]!.at === t; next++) {
          spec.fire(queue[next]!);
          engine.fire(queue[next]!);
        }
        jumped = true;
        continue;
      }
      steps++;
    }
    return { divergence: undefined, steps, spec: spec.observe(), engine: engine.observe() };
  } catch {
    // The full comparison re-runs the case and reports the throw at its step (or, if it
    // was the reference model that threw, throws again: that is popek's own bug).
    return undefined;
  } finally {
    release(engine);
  }
}

/**
 * The caller is done with `engine`: one that can hands its big buffers to the next engine
 * built on this thread (engine.ts `Disposing`). Building a machine per run cost more than
 * running it before this (issue 15).
 */
export const release = (engine: object): void => (engine as Partial<Disposing>).dispose?.();

function runLockstep(makeEngine: EngineFactory, c: LockstepCase, stride: number, until: number, recycle: boolean): Internal {
  const spec = new SpecMachine(c.image, c.config);
  const engine = makeEngine(c.image, c.config);
  const queue = sortSchedule(c.events);
  let next = 0;
  let steps = 0;
  let sinceRam = 0;
  // Where the step is, for a report if the engine throws (one try around the whole run).
  let fired: HostEvent[] = [];
  let eip = 0;
  let insn = '';
  let inEngine = false;
  /** The spec's outcome of the current step, once it has stepped. */
  let so: StepOutcome | undefined;

  const diverge = (so: StepOutcome | 'threw', eo: StepOutcome | 'threw', error?: string): Internal => {
    const a = spec.observe();
    const b = safeObserve(engine, a);
    const fields = diffState(a, b);
    const addr = firstRamDifference(a.ram, b.ram);
    if (addr !== undefined) fields.push(ramDiff(a, b, addr));
    const divergence: Divergence = { step: steps, insn, eip, outcome: { spec: so, engine: eo }, fired, fields, spec: a, engine: b };
    if (error !== undefined) divergence.error = error;
    return { divergence, steps, spec: a, engine: b };
  };

  try {
    for (;;) {
      fired = [];
      so = undefined;
      while (next < queue.length && queue[next]!.at <= spec.icount()) fired.push(queue[next++]!);
      if (steps >= c.maxSteps) break;
      eip = spec.s.eip;
      const bytes = spec.peekInsn();
      insn = bytes ? disassembleInsn(bytes) : '(fetch faults)';
      inEngine = true;
      for (const e of fired) engine.fire(e);
      const eo = engine.step();
      inEngine = false;
      for (const e of fired) spec.fire(e);
      so = spec.step();
      if (so !== eo) return diverge(so, eo);
      const a = spec.observe();
      inEngine = true;
      const b = engine.observe();
      inEngine = false;
      const fields = diffState(a, b);
      sinceRam++;
      const lastStep = isLastStep(so, steps, c.maxSteps, next < queue.length);
      if (fields.length === 0 && (sinceRam >= stride || lastStep || steps + 1 >= until)) {
        sinceRam = 0;
        if (firstRamDifference(a.ram, b.ram) !== undefined) {
          if (stride === 1) return diverge(so, eo);
          return { divergence: undefined, steps, spec: a, engine: b, ramCheckFailedAt: steps + 1 };
        }
      }
      if (fields.length > 0) return diverge(so, eo);
      if (so === 'shutdown') break;
      if (so === 'halted') {
        if (next >= queue.length) break;
        // Time jumps to the next event (§3.8): fire everything due then, on both sides.
        const t = queue[next]!.at;
        const jump: HostEvent[] = [];
        while (next < queue.length && queue[next]!.at === t) jump.push(queue[next++]!);
        for (const e of jump) {
          spec.fire(e);
          inEngine = true;
          engine.fire(e);
          inEngine = false;
        }
        continue;
      }
      steps++;
    }
    inEngine = true;
    const end = engine.observe();
    inEngine = false;
    return { divergence: undefined, steps, spec: spec.observe(), engine: end };
  } catch (e) {
    // An engine that throws during a guest run is a finding (DESIGN §6.14), not a crash of popek.
    if (!inEngine) throw e;
    if (so === undefined) {
      // It threw before the spec took this step: the spec takes it, for the side by side.
      for (const f of fired) spec.fire(f);
      so = spec.step();
    }
    return diverge(so, 'threw', crashMessage(e));
  } finally {
    if (recycle) release(engine);
  }
}
/** An engine that threw may not be able to describe itself; fall back to a marker. */
function safeObserve(engine: Engine, like: Observation): Observation {
  try {
    return engine.observe();
  } catch {
    return { ...like, status: 'running', console: '<engine could not be observed>', ram: new Uint8Array(like.ram.length) };
  }
}
