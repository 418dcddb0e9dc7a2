// The public engine API (`popek/engine`, DESIGN §5): what an engine is, what it is given and
// what it shows. Every engine — the reference model, the VMMs shipped here, a user's own —
// implements `Engine` and is built by an `EngineFactory`. The shapes are declared once, in
// spec/observation.ts, because both independent sides agree on them (DESIGN §1); this module
// is their public name. Types only: importing it pulls in no code of either side.

export type {
  /**
   * One engine running one guest (DESIGN §5). The lockstep differ drives it with `step()`,
   * fires host events between steps with `fire()`, and compares `observe()` with the
   * reference model's after every step (DESIGN §2); `run()` is the fast path without a
   * comparison. `counters()` is not guest-visible: exits, TLB hits, walks — what `popek
   * bench` costs with the cost model.
   */
  Engine,
  /** Everything guest-visible (DESIGN §2): registers, control registers, RAM, console, device, trace, pending vectors. */
  Observation,
  /** A loadable guest: byte chunks at guest-physical addresses and an entry point. */
  Image,
  /** Guest RAM size and the known-bug switches (DESIGN §8) an engine is asked to turn on. */
  MachineConfig,
  /** A host event (DESIGN §3.8); only `irq` is guest-visible. */
  HostEvent,
  HostEventKind,
  /** What one `step()` did: an instruction retired, a handler entered, halted, shut down. */
  StepOutcome,
  Status,
  TraceEntry,
  Regs,
  RegName,
} from '../../spec/observation.ts';

import type { Engine, Image, MachineConfig } from '../../spec/observation.ts';

/**
 * Builds an engine for one guest. Throws `RangeError` when the image does not fit the
 * configured RAM (a user's error, reported as such); any other throw is a bug.
 */
export type EngineFactory = (image: Image, config: MachineConfig) => Engine;

/**
 * An optional capability (DESIGN §2): the guest-visible state in a fixed, allocation-free
 * form, which the lockstep differ compares after every step so that it builds full
 * observations only at events, deliveries and the end. `fingerprint` writes 25 int32
 * slots of `into`, each exactly as `observe()` would report it: status (0 running,
 * 1 halted, 2 shutdown), icount, the eight registers in DESIGN §2 order, eip, eflags, cpl,
 * cr0, cr2, cr3, cr4, idtr base, idtr limit, tr, the console's length, the device counter,
 * the device log's length, the trace's length, the number of pending vectors.
 */
export interface Fingerprinting {
  fingerprint(into: Int32Array): void;
}

/**
 * An optional capability: the caller that built the engine says it is done with it, so
 * the engine may hand its large buffers (the host TLB's 5 MiB) to the next engine built
 * on this thread instead of leaving them to the garbage collector. The lockstep differ
 * calls it after each run; the engine must not be run afterwards (it may still be observed).
 */
export interface Disposing {
  dispose(): void;
}

/** What the suite may expect of an engine. */
export type Expectation = 'reference' | 'equivalent' | 'refuted';

/** One row of the engine registry (kvm-unit-tests' `scripts/vmm.bash`: a VMM is a row). */
export interface EngineEntry {
  readonly make: EngineFactory;
  readonly expected: Expectation;
  /** One line: what the engine is. */
  readonly summary: string;
  /** The known bugs (DESIGN §8) this engine can switch on: name → one-line description. */
  readonly bugs: Readonly<Record<string, string>>;
}
