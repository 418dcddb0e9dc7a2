// The shapes both sides of popek agree on: what a guest can see (DESIGN §2), what a
// run is given (an image, a configuration, a schedule of events: DESIGN §3.8), and the
// interface every engine implements (DESIGN §5). Types only: src/ may `import type`
// this file and nothing else of spec/ (DESIGN §1).

export type Status = 'running' | 'halted' | 'shutdown';

/** An event whose handler was entered, or the triple fault that ended the run (DESIGN §2). */
export type TraceEntry =
  | {
      icount: number;
      kind: 'exception' | 'interrupt' | 'software';
      vector: number;
      /** Only for #DF, #NP, #GP, #PF (DESIGN §3.10.5). */
      errorCode?: number;
      /** Only for #PF: the value CR2 took (DESIGN §3.10.2). */
      cr2?: number;
      /** The eip saved in the handler's frame (DESIGN §3.10.4). */
      eip: number;
    }
  | {
      icount: number;
      kind: 'shutdown';
      /**
       * Not guest-visible, and so not compared (§2): how the triple fault came about, for
       * the people reading a run. The vectors whose delivery was attempted, in order — the
       * first event, each fault or #DF §3.7 turned its delivery into — then the fault that
       * hit the #DF.
       */
      chain?: number[];
    };

export const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
export type RegName = (typeof REG_NAMES)[number];
export type Regs = Record<RegName, number>;

/** Everything guest-visible (DESIGN §2). All numbers are unsigned 32-bit. */
export interface Observation {
  status: Status;
  icount: number;
  regs: Regs;
  eip: number;
  eflags: number;
  cpl: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  idtr: { base: number; limit: number };
  tr: number;
  /** Every byte of guest RAM. May be a live view: copy it to keep it. */
  ram: Uint8Array;
  /** Console bytes (port 0xE9) as a string of code points 0–255 (DESIGN §3.10.14). */
  console: string;
  device: { counter: number; log: number[] };
  trace: TraceEntry[];
  /** Raised but undelivered external vectors, ascending. */
  pending: number[];
}

/** A loadable guest: bytes at physical addresses and an entry point (DESIGN §3.9). */
export interface Image {
  chunks: { addr: number; bytes: Uint8Array }[];
  entry: number;
}

/** Host events (DESIGN §3.8). Only `irq` is guest-visible. */
export type HostEvent =
  | { at: number; kind: 'irq'; vector: number }
  | { at: number; kind: 'swap-out'; gpa: number }
  | { at: number; kind: 'migrate'; gpa: number }
  | { at: number; kind: 'evict-shadow'; count: number }
  | { at: number; kind: 'flush-tlb' }
  | { at: number; kind: 'reclaim'; frames: number }
  | { at: number; kind: 'switch-vm' };

export type HostEventKind = HostEvent['kind'];

export interface MachineConfig {
  /** Guest RAM size, a multiple of 4096 (DESIGN §3.2). */
  ramBytes: number;
  /** Known-bug switches (DESIGN §8) for an engine under test; the spec has none. */
  bugs?: readonly string[];
}

/**
 * One step is the unit of lockstep comparison: an instruction retired, or one event's
 * handler entered (a faulting instruction and the delivery of its exception are one step).
 * `halted`: nothing can happen until an event fires. `shutdown`: nothing ever will.
 */
export type StepOutcome = 'retired' | 'delivered' | 'halted' | 'shutdown';

export interface Engine {
  readonly name: string;
  /** Apply a host event now, at the current instruction boundary. */
  fire(event: HostEvent): void;
  /** Advance by one step (see StepOutcome). */
  step(): StepOutcome;
  /**
   * Run a schedule (DESIGN §3.8, §3.10.8–9) until `maxSteps` steps were taken, the guest
   * shut down, or it is halted with no event left.
   */
  run(events: readonly HostEvent[], maxSteps: number): Observation;
  observe(): Observation;
  icount(): number;
  status(): Status;
  /** Not guest-visible: instructions, TLB hits/misses, walks, exits by reason... */
  counters(): Record<string, number>;
}
