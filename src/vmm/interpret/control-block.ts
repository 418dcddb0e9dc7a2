// The interpretive control block: every piece of guest CPU state the VMM keeps for a
// guest it interprets (after System/370's SIE state description). The guest never runs
// on the host CPU, so this structure *is* the guest CPU: the interpreter reads and writes
// it, and `observe()` reads it back (DESIGN §2, §3.1).

import { CR0_PE, CR0_PG, CR0_WP, EFLAGS_FIXED, EFLAGS_IOPL, EFLAGS_IOPL_SHIFT } from '../../hw/arch.ts';

/** The CR0 bits that exist (DESIGN §3.1); `mov cr0` with any other bit faults. */
export const CR0_LIVE = CR0_PE | CR0_WP | CR0_PG;

/** Selectors are a function of cpl in VX32's flat model (§3.1). */
export const csOf = (cpl: number): number => 0x08 + 0x11 * cpl;
export const ssOf = (cpl: number): number => 0x10 + 0x11 * cpl;

/** Register indices (DESIGN §3.1). */
export const ESP = 4;

/** A trace entry as the interpreter records it: the engine turns it into a TraceEntry. */
export interface DeliveredEvent {
  icount: number;
  /** 'shutdown' marks the triple fault that ended the run (§2). */
  kind: 'exception' | 'interrupt' | 'software' | 'shutdown';
  vector: number;
  /** -1: none pushed (§3.10.5). */
  errorCode: number;
  /** -1: not a #PF. */
  cr2: number;
  eip: number;
  /** Shutdown only: the vectors whose delivery was attempted, then the fault that hit #DF (§3.7). */
  chain?: number[];
}

export class ControlBlock {
  /** eax ecx edx ebx esp ebp esi edi; a Uint32Array wraps every write mod 2^32. */
  readonly regs = new Uint32Array(8);
  eip = 0;
  eflags = EFLAGS_FIXED;
  cpl = 0;
  cr0 = CR0_PE;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  idtrBase = 0;
  idtrLimit = 0;
  tr = 0;

  /** Raised, undelivered external vectors: a set (spec README clarification 7). */
  readonly pending = new Uint8Array(256);
  pendingCount = 0;
  /** Set by an `sti` that changed IF 0 → 1; consumed by the next boundary (§3.10.6). */
  stiShadow = false;
  halted = false;
  shutdown = false;

  /** Retired guest instructions (§3.10.8). */
  icount = 0;
  readonly trace: DeliveredEvent[] = [];

  /**
   * The fault an operation raised, filled in when a helper returns FAULT: faults are
   * values here (STYLE §3), carried beside the sentinel rather than thrown.
   */
  faultVector = 0;
  faultErrorCode = 0;
  /** The linear address a #PF reported (also written to cr2 when detected, §3.10.2). */
  faultCr2 = -1;

  constructor(entry: number) {
    this.eip = entry >>> 0; // DESIGN §3.1 reset: everything else is at its reset value above
  }

  get iopl(): number {
    return (this.eflags & EFLAGS_IOPL) >>> EFLAGS_IOPL_SHIFT;
  }

  raise(vector: number): void {
    if (this.pending[vector] === 0) {
      this.pending[vector] = 1;
      this.pendingCount++;
    }
  }

  /** The lowest pending vector (§3.7), or -1. */
  lowestPending(): number {
    if (this.pendingCount === 0) return -1;
    for (let v = 0; v < 256; v++) if (this.pending[v] !== 0) return v;
    return -1;
  }

  takePending(vector: number): void {
    this.pending[vector] = 0;
    this.pendingCount--;
  }
}

/**
 * The out-of-band result of every guest memory helper: accesses return an unsigned
 * 32-bit value (0 … 2^32−1) or FAULT, with the fault described in the control block.
 */
export const FAULT = -1;

/** Record a fault with an error code and return the FAULT sentinel. */
export function fault(cb: ControlBlock, vector: number, errorCode: number): number {
  cb.faultVector = vector;
  cb.faultErrorCode = errorCode;
  cb.faultCr2 = -1;
  return FAULT;
}
