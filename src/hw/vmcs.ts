// The VMCS of VMX-lite (DESIGN §4): one per vCPU, after Intel SDM vol. 3C ch. 24
// ("Virtual Machine Control Structures"). Typed fields grouped as the SDM groups them:
// guest-state area (24.4), host-state area (24.5), VM-execution controls (24.6),
// VM-entry event injection (24.8.3) and VM-exit information (24.9, exits.ts).
//
// The VMM owns the object and edits it freely between entries (VT-x needs vmread and
// vmwrite because the VMCS lives in processor-private memory; here plain fields do).

import type { TraceEntry } from '../../spec/observation.ts';
import { ExitInfo, type EventKind } from './exits.ts';

/**
 * The guest's VX32 state (DESIGN §3.1), loaded into the CPU at entry and saved at exit.
 * In non-root mode these ARE the registers the hardware uses: `eflags` is the guest's
 * own, IF and IOPL included — the "shadow EFLAGS" that makes `popf`, `cli`, `sti` and
 * `pushf` behave natively at the guest's cpl (DESIGN §3.4) with no exit. `cr0`/`cr3`/
 * `cr4` are the values the MMU uses: with shadow paging cr3 is the VMM's shadow root and
 * cr0 has PG set even when the guest thinks paging is off (the guest reads the CR0 read
 * shadow instead, see Controls).
 */
export class GuestState {
  /** eax ecx edx ebx esp ebp esi edi, as int32. */
  readonly regs = new Int32Array(8);
  eip = 0;
  eflags = 0x2;
  cpl = 0;
  cr0 = 0x1;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  idtrBase = 0;
  idtrLimit = 0;
  tr = 0;
  /** Interruptibility state: the boundary after an `sti` (DESIGN §3.10.6). */
  stiShadow = false;
  /** Activity state: halted by `hlt` when HLT exiting is off (DESIGN §3.7). */
  halted = false;
  /**
   * Retired guest instructions. The hardware adds what retires natively; a VMM that
   * emulates an instruction adds it here itself. Trace entries take their icount from it.
   */
  icount = 0;
  /**
   * Events the hardware entered through the guest IDT (DESIGN §2 `trace`): natively
   * delivered exceptions, `int n`, passed-through interrupts and injected events. Not a
   * VT-x field: a record of this simulation, kept per guest because it is per guest. A
   * triple fault exits instead of appending `shutdown`; the VMM appends it.
   */
  readonly trace: TraceEntry[] = [];
  /** chain.ts: deliveries attempted since a handler was entered (continued by the VMM's). */
  readonly chain: number[] = [];
}

/**
 * Root-mode register values restored at every exit (SDM 24.5). The VMM runs as host
 * code that touches host memory through PhysMem, not through the CPU's TLB, so the TLB
 * keeps the guest's translations across exits, as with VPIDs (SDM 28.1): only a change
 * of VMCS, of EPT pointer or of the guest's paging controls flushes at entry.
 */
export class HostState {
  readonly regs = new Int32Array(8);
  eip = 0;
  eflags = 0x2;
  cr0 = 0x1;
  cr3 = 0;
  cr4 = 0;
  idtrBase = 0;
  idtrLimit = 0;
  tr = 0;
}

/** VM-execution controls (SDM 24.6). All off: the guest runs with no exit at all. */
export class Controls {
  /**
   * CR0/CR4 guest-host masks and read shadows (SDM 24.6.6, 25.3): a guest read of a
   * masked bit returns the shadow's bit; a guest `mov cr0`/`mov cr4` exits when it would
   * set a masked bit to a value other than the shadow's, and otherwise leaves masked
   * bits of the real register unchanged.
   */
  cr0Mask = 0;
  cr0ReadShadow = 0;
  cr4Mask = 0;
  cr4ReadShadow = 0;
  /** `mov cr3, a` exits (SDM 25.1.3; VT-x's CR3-target list is not modelled). */
  cr3LoadExiting = false;
  /** `mov a, cr3` exits. */
  cr3StoreExiting = false;
  /** `lidt`, `sidt`, `ltr`, `str` exit. */
  descriptorTableExiting = false;
  hltExiting = false;
  invlpgExiting = false;
  /** `in` / `out` exit (unconditional I/O exiting; no I/O bitmaps). */
  ioExiting = false;
  /**
   * Bit v set: exception vector v (0–31) exits instead of being delivered through the
   * guest IDT (SDM 24.6.3). A #PF exit carries the faulting gva as its qualification and
   * leaves the guest's CR2 untouched (SDM 27.1). `int n` is a software interrupt and
   * never consults the bitmap; injected events do not either (SDM 26.6.1).
   */
  exceptionBitmap = 0;
  /**
   * Host external interrupts exit (acknowledged: the vector leaves the host's pending
   * set and is reported in `interruption`), whatever the guest's IF. Off, they are
   * delivered through the guest IDT when the guest's IF allows (pass-through).
   */
  externalInterruptExiting = false;
  /** Exit at the first boundary where the guest has IF = 1 and no STI shadow. */
  interruptWindowExiting = false;
  /** Nested paging: translate every guest-physical address through the EPT (ept.ts). */
  eptEnabled = false;
  /** hpa of the EPT directory (low 12 bits ignored). */
  eptPointer = 0;
}

/**
 * VM-entry event injection (SDM 24.8.3, 26.6): at the next entry the hardware delivers
 * the event through the GUEST IDT as if it had happened at the guest's current eip,
 * then clears `valid`. Delivery faults follow DESIGN §3.7 and may themselves exit per
 * the exception bitmap, with this event in the exit's IDT-vectoring information.
 */
export class EventInjection {
  valid = false;
  vector = 0;
  kind: EventKind = 'external';
  /** Pushed when not null (use it only for #DF #NP #GP #PF: DESIGN §3.10.5). */
  errorCode: number | null = null;
  /** 8 for a software `int n` (the frame saves eip + 8), else 0. */
  instructionLength = 0;

  set(vector: number, kind: EventKind, errorCode: number | null = null, instructionLength = 0): void {
    this.valid = true;
    this.vector = vector;
    this.kind = kind;
    this.errorCode = errorCode;
    this.instructionLength = instructionLength;
  }
}

export class Vmcs {
  readonly guest = new GuestState();
  readonly host = new HostState();
  readonly controls = new Controls();
  readonly injection = new EventInjection();
  readonly exit = new ExitInfo();
}
