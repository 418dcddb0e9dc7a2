// The one VM-entry path of the VMX vCPUs (after KVM's `vcpu_enter_guest`, which serves
// every MMU): before an entry, this MMU's controls and paging state (the hook `loadMmu`),
// then the injection of a pending interrupt or a request for the interrupt window
// (DESIGN §3.7); the entry itself; after the exit, the STI-shadow fix-up, the exit count,
// this MMU's exit handling (the hook `handleExit`), the stall limits and the step
// accounting (DESIGN §2). shadow/vcpu.ts (shadow paging) and ept/vcpu.ts (nested paging)
// differ only in their hooks.

import { EFLAGS_IF } from '../../hw/arch.ts';
import type { ExitInfo } from '../../hw/exits.ts';
import type { Vmx } from '../../hw/vmx.ts';
import type { StepOutcome } from '../../../spec/observation.ts';
import { blockedHalted, stepVcpu, type Handled, type VmxGuest } from './vmx-steps.ts';

/**
 * Overcommit below one instruction's working set (DESIGN §6.8): with fewer host frames
 * than the pages an instruction or a delivery needs resident at once, bringing one in
 * evicts another and the guest would fault forever. After this many exits in a row
 * without progress a vCPU performs the instruction in software instead, where the
 * emulator needs one page at a time. (A straddling access through two tables resolves
 * at most six pages, each one stall.)
 */
export const THRASHING_STALLS = 8;

/** Exits in a row without progress that no guest can cause: a VMM bug, reported. */
export const STALL_LIMIT = 64;

/** What of a VM the entry path touches. */
export interface EntryVm extends VmxGuest {
  readonly host: { readonly vmx: Vmx };
  /** The lowest pending vector, removed (pending.ts). */
  takePending(): number;
}

export abstract class VmxVcpu<V extends EntryVm = EntryVm> {
  /** Counters (not guest-visible): exits by reason. */
  readonly exitsBy: Record<string, number> = {};
  /** Guest instructions retired natively in non-root mode. */
  nativeRetired = 0;
  /** Exits in a row that made no progress (THRASHING_STALLS, STALL_LIMIT). */
  protected stalls = 0;
  /**
   * A read-only observer of every exit before it is handled (`popek explain` draws the
   * exits of each step from it); null when nobody looks. `exit` is reused: copy what you keep.
   */
  onExit: ((exit: Readonly<ExitInfo>) => void) | null = null;

  constructor(readonly vm: V) {}

  /** The engine's name, for the report of a VMM bug. */
  protected abstract readonly name: string;

  /**
   * Hook: load this MMU's VMCS controls and paging state for the next entry (the shadow
   * root as CR3 with its read shadows, or the EPT pointer). Runs before injection.
   */
  protected abstract loadMmu(): void;

  /** Hook: handle one exit, exhaustively over the reasons (DESIGN §1). */
  protected abstract handleExit(exit: ExitInfo): Handled;

  /** Hook: after an entry that made progress. */
  protected progressed(): void {}

  /** The catalog bug `injection-in-sti-shadow`: inject without looking at the STI shadow. */
  protected get injectsInStiShadow(): boolean {
    return false;
  }

  /**
   * Enter the guest for at most `budget` steps and handle the exit. Returns the steps
   * the guest took (hardware steps plus one for an instruction or delivery done in
   * software) and what the exit handling did.
   */
  enter(budget: number): { steps: number; handled: Handled } {
    const vm = this.vm;
    // With an interrupt waiting, single-step so an STI shadow is never lost at a
    // fault-like exit (below).
    if (vm.pendingCount !== 0) budget = 1;
    this.prepare();
    const g = vm.vmcs.guest;
    const shadowBefore = g.stiShadow;
    // A (re-)injected event is the step that passes the boundary the shadow covered.
    if (vm.vmcs.injection.valid) g.stiShadow = false;
    const icount0 = g.icount;
    const exit = vm.host.vmx.vmenter(vm.vmcs, budget);
    this.nativeRetired += g.icount - icount0;
    this.exitsBy[exit.reason] = (this.exitsBy[exit.reason] ?? 0) + 1;
    if (this.onExit !== null) this.onExit(exit);
    // VMX-lite consumes the STI shadow at the boundary even when the instruction after it
    // exits without retiring (a #PF, an EPT violation); VT-x reports blocking-by-STI then.
    if (exit.steps === 0 && shadowBefore && exit.reason !== 'interrupt-window') g.stiShadow = true;
    // An entry that made progress ends the streak before its exit is handled: the exit
    // belongs to the next instruction, whose working set has not thrashed yet. (Counted
    // after the handler, a streak that ended at THRASHING_STALLS sent the next
    // instruction's first fault to the emulator — `sti`, which has no memory operand.)
    if (exit.steps > 0) this.stalls = 0;
    const handled = this.handleExit(exit);
    const softwareStep = handled === 'retired' || handled === 'delivered';
    if (exit.steps === 0 && handled === 'none') {
      if (++this.stalls > STALL_LIMIT)
        throw new Error(`popek: ${this.name} made no progress at eip 0x${(g.eip >>> 0).toString(16)} (exit ${exit.reason})`);
    } else {
      this.stalls = 0;
      this.progressed();
    }
    if (softwareStep) g.stiShadow = false;
    return { steps: exit.steps + (softwareStep ? 1 : 0), handled };
  }

  /** This MMU's controls, then a pending interrupt: injected, or the window requested. */
  private prepare(): void {
    const v = this.vm.vmcs;
    const c = v.controls;
    const g = v.guest;
    this.loadMmu();
    c.ioExiting = true;
    c.interruptWindowExiting = false;
    if (this.vm.pendingCount !== 0 && !v.injection.valid) {
      // DESIGN §3.7: deliverable at a boundary with IF = 1 and no STI shadow; else wait
      // for the window (the hardware exits the moment it opens).
      const shadowBlocks = g.stiShadow && !this.injectsInStiShadow;
      if ((g.eflags & EFLAGS_IF) !== 0 && !shadowBlocks) v.injection.set(this.vm.takePending(), 'external');
      else c.interruptWindowExiting = true;
    }
  }

  // ---------------------------------------------------------------------------------
  // Steps for the engine (DESIGN §2: one step = an instruction retired or a handler entered)

  /** Halted with nothing that can wake it now (vmx-steps.ts). */
  blockedHalted(): boolean {
    return blockedHalted(this.vm);
  }

  step(): StepOutcome {
    return stepVcpu(this);
  }
}
