// The vCPU of `vmx-ept` (DESIGN §5; issue 7 item 3): enters the guest in VMX-lite non-root
// mode with nested paging, and handles every exit. The guest owns its page tables, CR0,
// CR3, CR4, IDTR and TR outright; the hardware walks gva → gpa through them and gpa → hpa
// through the VMM's EPT (a 2-D walk, src/hw/mmu.ts). Exit dispatch is one exhaustive
// ts-pattern match over the hardware's exit reasons (DESIGN §1).
//
// What exits (the controls set in `prepare`), and why:
// - EPT violations: lazy allocation, zero-page reads, copy-on-write of the zero frame,
//   swap-in, a rebuilt table, open-bus pages and writes (README, "EPT violation");
// - EPT misconfigurations: the MMIO window's marker entries, emulated exactly once;
// - in/out, so each VM has its own console port;
// - the interrupt window, when an interrupt waits for IF = 1 and no STI shadow.
// Nothing else: no #PF, no CR access, no hlt, no invlpg — the exits shadow paging takes on
// every page fault, CR3 write and page-table edit do not exist here.

import { match } from 'ts-pattern';
import { STALL_LIMIT, THRASHING_STALLS, blockedHalted, stepVcpu, type Handled } from '../core/vmx-steps.ts';
import type { StepOutcome } from '../../../spec/observation.ts';
import { EPT_RWX, EPT_W } from '../../hw/ept.ts';
import { EPT_QUAL_PERM_SHIFT, EPT_QUAL_WRITE, type ExitInfo } from '../../hw/exits.ts';
import { EFLAGS_IF, PFEC_P, PFEC_U, PFEC_W, VEC_PF } from '../../hw/arch.ts';
import { deliverInSoftware, portIo, reflect, reinject, tripleFault } from '../core/vmx-exits.ts';
import { EPT_OPEN_BUS, isMmioGpa } from './ept-map.ts';
import type { EptVm } from './vm.ts';

export class EptVcpu {
  /** Counters (not guest-visible). */
  readonly exitsBy: Record<string, number> = {};
  /** Guest instructions retired natively in non-root mode (the cost model's `instructions`). */
  nativeRetired = 0;
  /** Instructions and deliveries the VMM performed in software (the cost model's `emulated`). */
  emulated = 0;
  mmioEmulations = 0;
  openBusEmulations = 0;
  openBusMaps = 0;
  private stalls = 0;
  /** Instructions and deliveries emulated because their working set did not fit the host. */
  thrashEmulations = 0;

  /** Violations whose access the VMM performed anyway under `forceEmulation`. */
  forcedEmulations = 0;

  constructor(
    readonly vm: EptVm,
    /** Perform in software every access that takes a RAM violation (vcpu.ts: a test mode). */
    private readonly forceEmulation = false,
  ) {}

  // ---------------------------------------------------------------------------------
  // Entry

  /** Load the VMCS for the next entry: controls and a pending interrupt. */
  private prepare(): void {
    const vm = this.vm;
    const v = vm.vmcs;
    const c = v.controls;
    const g = v.guest;
    c.eptEnabled = true;
    c.eptPointer = vm.ept.rootHpa;
    c.ioExiting = true;
    c.interruptWindowExiting = false;
    if (vm.pendingCount !== 0 && !v.injection.valid) {
      // DESIGN §3.7: deliverable at a boundary with IF = 1 and no STI shadow; else wait
      // for the window (the hardware exits the moment it opens).
      if ((g.eflags & EFLAGS_IF) !== 0 && !g.stiShadow) v.injection.set(vm.takePending(), 'external');
      else c.interruptWindowExiting = true;
    }
  }

  /**
   * Enter the guest for at most `budget` steps and handle the exit. Returns the steps
   * the guest took (hardware steps plus one for an instruction or delivery done in
   * software) and what the exit handling did.
   */
  enter(budget: number): { steps: number; handled: Handled } {
    const vm = this.vm;
    // With an interrupt waiting, single-step so an STI shadow is never lost at an exit.
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
    // VMX-lite consumes the STI shadow at the boundary even when the instruction after it
    // then exits without retiring (an EPT violation); VT-x reports blocking-by-STI then.
    if (exit.steps === 0 && shadowBefore && exit.reason !== 'interrupt-window') g.stiShadow = true;
    const handled = this.dispatch(exit);
    const softwareStep = handled === 'retired' || handled === 'delivered';
    if (exit.steps === 0 && handled === 'none') {
      if (++this.stalls > STALL_LIMIT) throw new Error(`popek: vmx-ept made no progress at eip 0x${(g.eip >>> 0).toString(16)} (exit ${exit.reason})`);
    } else {
      this.stalls = 0;
      vm.ept.progress();
    }
    if (softwareStep) g.stiShadow = false;
    return { steps: exit.steps + (softwareStep ? 1 : 0), handled };
  }

  // ---------------------------------------------------------------------------------
  // Exit dispatch (DESIGN §1: exhaustive over the reasons)

  private dispatch(exit: ExitInfo): Handled {
    return match(exit.reason)
      .with('ept-violation', () => this.eptViolation(exit))
      .with('ept-misconfig', () => this.eptMisconfig(exit))
      .with('io', () => portIo(this.vm, exit))
      .with('interrupt-window', 'preemption-timer', () => 'none' as const)
      .with('triple-fault', () => tripleFault(this.vm))
      .with('exception', 'external-interrupt', 'hlt', 'invlpg', 'cr-access', 'idtr-access', 'tr-access', (r) => {
        throw new Error(`popek: vmx-ept got exit '${r}', which its controls never enable`);
      })
      .exhaustive();
  }

  // ---- EPT violations and misconfigurations (README) --------------------------------

  private eptViolation(exit: ExitInfo): Handled {
    const vm = this.vm;
    const gpa = exit.guestPhysical! >>> 0;
    const q = exit.qualification;
    if (vm.bugs.violationAsPf) {
      // The bug: the VMM treats its own fault as the guest's.
      const g = vm.vmcs.guest;
      const err = ((q & EPT_QUAL_WRITE) !== 0 ? PFEC_W : 0) | (g.cpl === 3 ? PFEC_U : 0) | (((q >>> EPT_QUAL_PERM_SHIFT) & 7) !== 0 ? PFEC_P : 0);
      return reflect(vm, { vector: VEC_PF, errorCode: err, cr2: exit.guestLinear ?? 0 }, exit.idtVectoring);
    }
    const access = q & 7; // EPT_R / EPT_W / EPT_X in the qualification's low bits
    if (gpa < vm.p2m.ramBytes) {
      // The 2-D walk needs the guest's tables and every page of the access resident at
      // once: on a host too small for that, emulate (THRASHING_STALLS).
      if (this.stalls >= THRASHING_STALLS) {
        this.thrashEmulations++;
        return this.emulate(exit);
      }
      vm.resolve(gpa, access);
      if (this.forceEmulation) {
        this.forcedEmulations++;
        const r = this.tryEmulate(exit);
        if (r !== 'unsupported') return r;
      }
      reinject(vm, exit.idtVectoring);
      return 'none';
    }
    if (isMmioGpa(gpa)) {
      // Its table was evicted: put the marker back, and emulate this access now.
      vm.ept.markMmio(gpa);
      this.mmioEmulations++;
      return this.emulate(exit);
    }
    if ((access & EPT_W) === 0 || vm.bugs.openBusWritable) {
      // Open bus, read or fetched: map the all-ones frame and let the hardware read it
      // (the bug maps it writable, for writes too).
      vm.ept.set(gpa, vm.ept.onesHfn, vm.bugs.openBusWritable ? EPT_RWX : EPT_OPEN_BUS);
      this.openBusMaps++;
      reinject(vm, exit.idtVectoring);
      return 'none';
    }
    this.openBusEmulations++;
    return this.emulate(exit);
  }

  private eptMisconfig(exit: ExitInfo): Handled {
    const gpa = exit.guestPhysical! >>> 0;
    if (!isMmioGpa(gpa)) throw new Error(`popek: vmx-ept found a misconfigured EPT entry for gpa 0x${gpa.toString(16)}`);
    this.mmioEmulations++;
    return this.emulate(exit);
  }

  /**
   * Perform in software what the hardware could not (DESIGN §6.9): the instruction, or
   * the delivery the exit interrupted. The guest's eip is still the instruction's, or
   * where the event left it (SDM 27.2.4).
   */
  private emulate(exit: ExitInfo): Handled {
    const r = this.tryEmulate(exit);
    if (r === 'unsupported') throw new Error(`popek: vmx-ept cannot emulate the instruction at 0x${(this.vm.vmcs.guest.eip >>> 0).toString(16)}`);
    return r;
  }

  /** `emulate`, but an instruction the emulator does not know is reported, not fatal (forced emulation). */
  private tryEmulate(exit: ExitInfo): Handled | 'unsupported' {
    const vm = this.vm;
    const g = vm.vmcs.guest;
    if (exit.idtVectoring !== null) {
      this.emulated++;
      return deliverInSoftware(vm, exit.idtVectoring);
    }
    const r = vm.emulator.step(g, vm.syncPaging());
    if (r === 'unsupported') return r;
    this.emulated++;
    if (r === 'retired') return 'retired';
    return reflect(vm, r, null);
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
