// Legacy mode (DESIGN §4, §5 `trap-emulate`): the host as classic trap-and-emulate saw
// it, before VT-x. The VMM deprivileges the guest — guest kernel at ring 1, guest user
// at ring 3 — on page tables it supplies as the real CR3 (a shadow table), and installs
// itself as the monitor: every exception, `int n` and external interrupt goes to the
// monitor instead of through an IDT (the `Cpu.trap` seam, used by deliver.ts).
//
// Nothing else changes, and that is the point (Popek & Goldberg 1974, Theorem 1): the
// guest runs on the REAL registers. Privileged instructions (`hlt`, `mov crN`, `lidt`,
// `ltr`, `invlpg`; `cli`/`sti`/`in`/`out` with IOPL 0) raise #GP at cpl 1 and the monitor
// emulates them; but the sensitive, unprivileged ones do not trap (DESIGN §3.3–3.4):
// - `pushf` pushes the real eflags: the real IF (the monitor keeps it 1) and IOPL;
// - `popf` at cpl 1 with IOPL 0 silently keeps IF — the guest's cli-by-popf is lost;
// - `sidt` stores the monitor's IDTR, `str` returns the monitor's TR;
// - `mov a, cs` returns 0x19, ring 1, where the guest kernel believes it has ring 0.
// The suite must find exactly these (DESIGN §5, §7).
//
// The monitor runs inside the trap, with the CPU holding the trapping guest's state; it
// edits that state to emulate or reflect. Bookkeeping the hardware would do on a real
// delivery is the monitor's now: the guest-visible trace, `icount` for an emulated
// instruction or a reflected `int n` (DESIGN §3.10.8), the guest's virtual IF.

import { VEC_PF } from './arch.ts';
import type { Cpu } from './cpu.ts';
import { KIND_EXT, KIND_SW, S_DELIVERED, S_SHUTDOWN, type TrapHandler } from './seams.ts';

export type TrapKind = 'exception' | 'interrupt' | 'software';

/** One event handed to the monitor. */
export interface Trap {
  vector: number;
  kind: TrapKind;
  /** The error code the CPU raised (#DF #NP #GP #PF), or null. */
  errorCode: number | null;
  /** The eip a frame for this event would save: the faulting instruction's, or the next one for `int n`. */
  eip: number;
  /** The eip a fault while delivering this event would save (DESIGN §3.10.4). */
  faultEip: number;
  /** For #PF, the faulting gva (the hardware has also written it to the real CR2). */
  faultAddress: number | null;
}

export type MonitorAction = 'resume' | 'shutdown';

export interface Monitor {
  trap(cpu: Cpu, trap: Trap): MonitorAction;
}

/** The monitor's own tables: what `sidt` and `str` reveal to a deprivileged guest. */
export interface HostTables {
  idtrBase: number;
  idtrLimit: number;
  tr: number;
}

export class LegacyMode implements TrapHandler {
  /** Counters (not guest-visible): traps in all and per vector. */
  traps = 0;
  readonly trapsByVector = new Uint32Array(256);

  constructor(
    readonly cpu: Cpu,
    readonly monitor: Monitor,
  ) {}

  /** Take over the CPU's events and load the monitor's IDTR and TR into the real registers. */
  install(host: HostTables): void {
    if (this.cpu.vmx !== null) throw new Error('popek: legacy mode cannot be installed in VMX non-root mode');
    const cpu = this.cpu;
    cpu.trap = this;
    cpu.idtrBase = host.idtrBase | 0;
    cpu.idtrLimit = host.idtrLimit & 0xffff;
    cpu.tr = host.tr | 0;
  }

  uninstall(): void {
    this.cpu.trap = null;
  }

  /** TrapHandler: called by deliver.ts for every event (seams.ts `TrapHandler`). */
  event(vector: number, kind: number, errorCode: number, savedEip: number, faultEip: number): number {
    const cpu = this.cpu;
    this.traps++;
    this.trapsByVector[vector]!++;
    const trap: Trap = {
      vector,
      kind: kind === KIND_EXT ? 'interrupt' : kind === KIND_SW ? 'software' : 'exception',
      errorCode: errorCode < 0 ? null : errorCode,
      eip: savedEip >>> 0,
      faultEip: faultEip >>> 0,
      faultAddress: kind !== KIND_EXT && kind !== KIND_SW && vector === VEC_PF ? cpu.pfGva >>> 0 : null,
    };
    if (this.monitor.trap(cpu, trap) === 'shutdown') {
      cpu.shutdown = true;
      return S_SHUTDOWN;
    }
    return S_DELIVERED;
  }
}
