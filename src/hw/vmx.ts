// VMX-lite (DESIGN §4): root and non-root mode on one host CPU, after Intel SDM vol. 3C
// ch. 23–28. The VMM (root mode) is TypeScript; `vmenter` loads a VMCS's guest state into
// the CPU, runs the guest on the same interpreter until an exit or the step budget, saves
// the guest state back and returns the exit information.
//
// What non-root mode changes, and where:
// - instructions a control makes exit: their own `case` in cpu.ts calls back here
//   (`exitInstruction`, `movToCr`, `movFromCr`); the instruction does not retire;
// - exceptions, delivery faults, triple faults: deliver.ts asks `exceptionExits` and
//   calls `exceptionExit` / `duringDelivery` / `tripleFault`;
// - EPT: the MMU's gpa→hpa stage (mmu.ts, ept.ts); a failed walk comes back as `eptExit`;
// - instruction boundaries (interrupts, the interrupt window, halt): `boundary` below,
//   in a run loop of its own, so the native engine's loop carries no VMX test at all;
// - everything else — `popf`, `pushf`, `cli`, `sti`, `iret`, `mov a, cs`, `int n`, loads
//   and stores — runs natively at the guest's cpl on the guest's eflags: "shadow EFLAGS".

import { EFLAGS_FIXED, EFLAGS_IF, EFLAGS_LIVE, FRAME_MASK, PAGE_SHIFT, VEC_PF } from './arch.ts';
import type { Cpu } from './cpu.ts';
import { deliverEvent } from './deliver.ts';
import { EPT_FAIL_MISCONFIG, Ept } from './ept.ts';
import { crQual, EPT_QUAL_GLA_VALID, type EventKind, type ExitInfo, type ExitReason, zeroExitCounts } from './exits.ts';
import { eptFailGpa, XF_EPT_QUAL } from './mmu.ts';
import { FV_EXIT, KIND_EXC, KIND_EXT, KIND_SW, type NonRoot, R_FAULT, R_RETIRED, S_DELIVERED, S_EXIT, S_HALTED } from './seams.ts';
import { Controls, type HostState, Vmcs } from './vmcs.ts';
const kindOf = (k: number): EventKind => (k === KIND_EXT ? 'external' : k === KIND_SW ? 'software' : 'exception');

export class Vmx implements NonRoot {
  readonly cpu: Cpu;
  /** The EPT walker the MMU uses while a guest with EPT enabled runs. */
  readonly ept: Ept;

  /** The VMCS being run and its controls (the last one entered, between entries). */
  private current = new Vmcs();
  ctl: Controls = this.current.controls;
  /** The exception bitmap has #PF: page faults leave CR2 alone (cpu.ts `pageFault`). */
  pfExits = false;
  private exited = false;

  // The TLB's tag, as a VPID would be (SDM 28.1): whose translations it holds.
  private tlbOwner: Vmcs | null = null;
  private tlbOwnerEpt = -1;

  // Root-mode values parked during an entry.
  private hostTrace: Cpu['trace'] = [];
  private hostChain: Cpu['chain'] = [];
  private hostIcount = 0;

  /** Counters (not guest-visible). */
  readonly exits = zeroExitCounts();
  entries = 0;
  /** Guest instructions retired natively in non-root mode (DESIGN §4 counters). */
  retired = 0;
  invepts = 0;
  /** TLB flushes caused by entering a different VMCS or EPT. */
  entryFlushes = 0;

  constructor(cpu: Cpu) {
    this.cpu = cpu;
    this.ept = new Ept(cpu.mem);
  }

  /**
   * VM entry: run `vmcs`'s guest for at most `budget` steps (instructions retired plus
   * handlers entered). Delivers a pending injection first, then runs until an exit; a
   * spent budget is a 'preemption-timer' exit. Returns `vmcs.exit`.
   */
  vmenter(vmcs: Vmcs, budget: number): ExitInfo {
    const cpu = this.cpu;
    if (cpu.vmx !== null || cpu.trap !== null) throw new Error('popek: vmenter needs root mode without a legacy monitor');
    this.current = vmcs;
    this.ctl = vmcs.controls;
    vmcs.exit.reset();
    this.exited = false;
    this.loadGuest(vmcs);
    cpu.vmx = this;
    this.entries++;
    const icount0 = cpu.icount;

    let steps = 0;
    const inj = vmcs.injection;
    if (inj.valid) {
      inj.valid = false;
      const kind = inj.kind === 'external' ? KIND_EXT : inj.kind === 'software' ? KIND_SW : KIND_EXC;
      const eip = cpu.eip;
      const s = deliverEvent(cpu, inj.vector, kind, inj.errorCode ?? -1, (eip + inj.instructionLength) | 0, eip, true);
      if (s === S_DELIVERED) steps++;
    }
    if (!this.exited) steps += this.run(budget - steps);

    vmcs.exit.steps = steps;
    this.retired += cpu.icount - icount0;
    this.saveGuest(vmcs);
    this.loadHost(vmcs.host);
    cpu.vmx = null;
    this.exits[vmcs.exit.reason]++;
    return vmcs.exit;
  }

  /**
   * Invalidate every cached translation derived from the EPT (SDM 28.3.3.4 `invept`).
   * The TLB holds combined gva→hpa entries only, so that is all of them.
   */
  invept(): void {
    this.invepts++;
    this.cpu.tlb.flush();
  }

  /**
   * Leave VMX operation (`vmxoff`): the MMU drops the EPT and takes the root-mode paging
   * controls again, and the TLB forgets the guest's translations, so the CPU can run
   * natively or in legacy mode afterwards.
   */
  vmxoff(): void {
    const cpu = this.cpu;
    cpu.mmu.ept = null;
    cpu.tlb.flush();
    cpu.mmu.setControl(cpu.cr0, cpu.cr3, cpu.cr4, true);
    this.tlbOwner = null;
    this.tlbOwnerEpt = -1;
  }

  /** Flush the whole TLB (`invvpid` all-context): after changing shadow page tables. */
  flushTlb(): void {
    this.cpu.tlb.flush();
  }

  /** Drop the TLB entry of one guest page (`invvpid` individual-address / `invlpg`). */
  invalidatePage(gva: number): void {
    this.cpu.tlb.invalidate(gva >>> PAGE_SHIFT);
  }

  // ---------------------------------------------------------------------------------
  // The non-root run loop and its instruction boundaries

  private run(budget: number): number {
    const cpu = this.cpu;
    let steps = 0;
    for (;;) {
      if (steps >= budget) {
        this.begin('preemption-timer');
        return steps;
      }
      let s: number;
      if (cpu.pendingCount !== 0 || cpu.stiShadow || cpu.halted || this.ctl.interruptWindowExiting) {
        s = this.boundary();
      } else {
        // Back to back (cpu.ts `exec`), each retired instruction one step of the budget.
        const before = cpu.icount;
        const r = cpu.exec(budget - steps);
        steps += cpu.icount - before;
        if (r === R_RETIRED) continue;
        s = cpu.finish(r);
      }
      if (s === S_EXIT) return steps;
      if (s === S_HALTED) {
        // Nothing can wake the guest during this entry: time jumps to the timer's expiry.
        this.begin('preemption-timer');
        return steps;
      }
      steps++;
    }
  }

  /**
   * One step at a boundary that needs attention (DESIGN §3.7, §3.10.6, SDM 25.2 and
   * 26.7.5 for priorities: interrupt-window exits before external interrupts). An exit
   * here leaves the STI shadow as it was: the guest has not passed the boundary.
   */
  private boundary(): number {
    const cpu = this.cpu;
    const ctl = this.ctl;
    const shadow = cpu.stiShadow;
    cpu.stiShadow = false;
    const guestIf = (cpu.eflags & EFLAGS_IF) !== 0;
    if (ctl.interruptWindowExiting && guestIf && !shadow) {
      this.begin('interrupt-window');
      return S_EXIT;
    }
    if (ctl.externalInterruptExiting && cpu.pendingCount !== 0) {
      // Acknowledged on exit: the vector leaves the host's pending set (DESIGN §3.10.7).
      let v = 0;
      while (cpu.pending[v] === 0) v++;
      cpu.pending[v] = 0;
      cpu.pendingCount--;
      cpu.stiShadow = shadow;
      this.begin('external-interrupt').interruption = { vector: v, kind: 'external', errorCode: null, instructionLength: 0 };
      return S_EXIT;
    }
    if (!ctl.externalInterruptExiting && cpu.pendingCount !== 0 && guestIf && !shadow) return cpu.deliverExternal();
    if (cpu.halted) return S_HALTED;
    return cpu.finish(cpu.exec(1));
  }

  // ---------------------------------------------------------------------------------
  // Exits, called from cpu.ts and deliver.ts

  private begin(reason: ExitReason): ExitInfo {
    const e = this.current.exit;
    e.reason = reason;
    this.exited = true;
    return e;
  }

  /** An instruction exit: recorded, the instruction not retired. Returns R_FAULT for `exec`. */
  exitInstruction(reason: ExitReason, qualification: number, gla: number | null, w0: number, imm: number): number {
    const e = this.begin(reason);
    e.qualification = qualification;
    e.guestLinear = gla === null ? null : gla >>> 0;
    e.instructionLength = 8;
    const b = e.instructionBytes;
    for (let i = 0; i < 4; i++) {
      b[i] = w0 >>> (8 * i);
      b[i + 4] = imm >>> (8 * i);
    }
    const cpu = this.cpu;
    cpu.fv = FV_EXIT;
    cpu.fe = -1;
    return R_FAULT;
  }

  /**
   * `mov crN, a` in non-root mode (SDM 25.1.3, 25.3): CR0/CR4 exit when a masked bit
   * would differ from its read shadow, otherwise masked bits keep their real value; CR3
   * exits under CR3-load exiting. Returns an `exec` result.
   */
  movToCr(n: number, reg: number, w0: number, imm: number): number {
    const cpu = this.cpu;
    const ctl = this.ctl;
    const v = cpu.regs[reg]!;
    let keep = 0;
    if (n === 0) {
      if (((v ^ ctl.cr0ReadShadow) & ctl.cr0Mask) !== 0) return this.exitInstruction('cr-access', crQual(0, false, reg), null, w0, imm);
      keep = ctl.cr0Mask;
    } else if (n === 4) {
      if (((v ^ ctl.cr4ReadShadow) & ctl.cr4Mask) !== 0) return this.exitInstruction('cr-access', crQual(4, false, reg), null, w0, imm);
      keep = ctl.cr4Mask;
    } else if (n === 3 && ctl.cr3LoadExiting) {
      return this.exitInstruction('cr-access', crQual(3, false, reg), null, w0, imm);
    }
    return cpu.writeCr(n, v, keep) ? R_RETIRED : R_FAULT;
  }

  /** `mov a, crN` in non-root mode: read shadows for masked CR0/CR4 bits, CR3-store exiting. */
  movFromCr(n: number, reg: number, w0: number, imm: number): number {
    const cpu = this.cpu;
    const ctl = this.ctl;
    let v: number;
    if (n === 0) v = (cpu.cr0 & ~ctl.cr0Mask) | (ctl.cr0ReadShadow & ctl.cr0Mask);
    else if (n === 4) v = (cpu.cr4 & ~ctl.cr4Mask) | (ctl.cr4ReadShadow & ctl.cr4Mask);
    else if (n === 3) {
      if (ctl.cr3StoreExiting) return this.exitInstruction('cr-access', crQual(3, true, reg), null, w0, imm);
      v = cpu.cr3;
    } else v = cpu.cr2;
    cpu.regs[reg] = v;
    return R_RETIRED;
  }

  /** Whether exception `vector` exits (the exception bitmap, vectors 0–31). */
  exceptionExits(vector: number): boolean {
    return vector < 32 && (this.ctl.exceptionBitmap & (1 << vector)) !== 0;
  }

  /** An 'exception' exit; for #PF the qualification is the faulting gva (SDM Table 27-1). */
  exceptionExit(vector: number, errorCode: number): number {
    const e = this.begin('exception');
    e.interruption = { vector, kind: 'exception', errorCode: errorCode < 0 ? null : errorCode, instructionLength: 0 };
    if (vector === VEC_PF) {
      e.qualification = this.cpu.pfGva >>> 0;
      e.guestLinear = this.cpu.pfGva >>> 0;
    }
    return S_EXIT;
  }

  /** The exit just recorded interrupted the delivery of this event (SDM 24.9.3). */
  duringDelivery(vector: number, kind: number, errorCode: number): number {
    this.current.exit.idtVectoring = {
      vector,
      kind: kindOf(kind),
      errorCode: errorCode < 0 ? null : errorCode,
      instructionLength: kind === KIND_SW ? 8 : 0,
    };
    return S_EXIT;
  }

  tripleFault(): number {
    this.begin('triple-fault');
    return S_EXIT;
  }

  /**
   * An EPT violation or misconfiguration in the walk of `gva`; `xlate` is the walk's
   * result, whose cause carries the qualification bits and the gpa (mmu.ts layout).
   */
  eptExit(gva: number, xlate: number): void {
    const cause = ~xlate;
    const misconfig = (cause & EPT_FAIL_MISCONFIG) !== 0;
    const e = this.begin(misconfig ? 'ept-misconfig' : 'ept-violation');
    e.guestPhysical = eptFailGpa(cause, gva);
    e.guestLinear = gva >>> 0;
    if (!misconfig) e.qualification = (cause & XF_EPT_QUAL) | EPT_QUAL_GLA_VALID;
  }

  // ---------------------------------------------------------------------------------
  // State transfer (SDM 26.3.2 loading guest state, 27.3 saving it, 27.5 loading host state)

  private loadGuest(vmcs: Vmcs): void {
    const cpu = this.cpu;
    const g = vmcs.guest;
    const ctl = vmcs.controls;
    cpu.regs.set(g.regs);
    cpu.eip = g.eip | 0;
    cpu.eflags = (g.eflags & EFLAGS_LIVE) | EFLAGS_FIXED;
    cpu.setCpl(g.cpl & 3);
    cpu.cr0 = g.cr0 | 0;
    cpu.cr2 = g.cr2 | 0;
    cpu.cr3 = g.cr3 & FRAME_MASK;
    cpu.cr4 = g.cr4 | 0;
    cpu.idtrBase = g.idtrBase | 0;
    cpu.idtrLimit = g.idtrLimit & 0xffff;
    cpu.tr = g.tr | 0;
    cpu.stiShadow = g.stiShadow;
    cpu.halted = g.halted;
    cpu.shutdown = false;
    this.hostIcount = cpu.icount;
    cpu.icount = g.icount;
    this.hostTrace = cpu.trace;
    cpu.trace = g.trace;
    this.hostChain = cpu.chain;
    cpu.chain = g.chain;

    // The TLB holds one context's translations at a time; entering another VMCS or
    // another EPT flushes it, re-entering the same one keeps it (VPID-like, SDM 28.1).
    const eptRoot = ctl.eptEnabled ? (ctl.eptPointer & FRAME_MASK) >>> 0 : -1;
    if (this.tlbOwner !== vmcs || this.tlbOwnerEpt !== eptRoot) {
      cpu.tlb.flush();
      this.entryFlushes++;
      this.tlbOwner = vmcs;
      this.tlbOwnerEpt = eptRoot;
    }
    const mmu = cpu.mmu;
    this.ept.root = eptRoot >>> 0;
    mmu.ept = ctl.eptEnabled ? this.ept : null;
    // A CR0.PG/WP or CR4.PSE change flushes inside setControl; so does a new CR3.
    mmu.setControl(cpu.cr0, cpu.cr3, cpu.cr4, cpu.cr3 >>> 0 !== mmu.pdBase);
    this.pfExits = this.exceptionExits(VEC_PF);
  }

  private saveGuest(vmcs: Vmcs): void {
    const cpu = this.cpu;
    const g = vmcs.guest;
    g.regs.set(cpu.regs);
    g.eip = cpu.eip;
    g.eflags = cpu.eflags;
    g.cpl = cpu.cpl;
    g.cr0 = cpu.cr0;
    g.cr2 = cpu.cr2;
    g.cr3 = cpu.cr3;
    g.cr4 = cpu.cr4;
    g.idtrBase = cpu.idtrBase;
    g.idtrLimit = cpu.idtrLimit;
    g.tr = cpu.tr;
    g.stiShadow = cpu.stiShadow;
    g.halted = cpu.halted;
    g.icount = cpu.icount;
    cpu.trace = this.hostTrace;
    cpu.chain = this.hostChain;
  }

  /**
   * Root-mode registers back (SDM 27.5). The MMU keeps the guest's paging controls and
   * the TLB the guest's translations: the VMM reaches memory through PhysMem, never
   * through the TLB, so nothing in root mode can use them (vmcs.ts HostState).
   */
  private loadHost(h: HostState): void {
    const cpu = this.cpu;
    cpu.regs.set(h.regs);
    cpu.eip = h.eip | 0;
    cpu.eflags = (h.eflags & EFLAGS_LIVE) | EFLAGS_FIXED;
    cpu.setCpl(0);
    cpu.cr0 = h.cr0 | 0;
    cpu.cr3 = h.cr3 & FRAME_MASK;
    cpu.cr4 = h.cr4 | 0;
    cpu.idtrBase = h.idtrBase | 0;
    cpu.idtrLimit = h.idtrLimit & 0xffff;
    cpu.tr = h.tr | 0;
    cpu.stiShadow = false;
    cpu.halted = false;
    cpu.icount = this.hostIcount;
  }
}
