// The vCPU of `vmx-ept` (DESIGN §5; issue 7 item 3): the nested-paging hooks of the one
// entry path (core/vmx-entry.ts) — the EPT pointer before each entry, and every exit
// handled after it. The guest owns its page tables, CR0,
// CR3, CR4, IDTR and TR outright; the hardware walks gva → gpa through them and gpa → hpa
// through the VMM's EPT (a 2-D walk, src/hw/mmu.ts). Exit dispatch is one exhaustive
// ts-pattern match over the hardware's exit reasons (DESIGN §1).
//
// What exits (the controls set in `loadMmu`; in/out and the interrupt window by the entry
// path, core/vmx-entry.ts), and why:
// - EPT violations: lazy allocation, zero-page reads, copy-on-write of the zero frame,
//   swap-in, a rebuilt table, open-bus pages and writes (README, "EPT violation");
// - EPT misconfigurations: the MMIO window's marker entries, emulated exactly once;
// - in/out, so each VM has its own console port;
// - the interrupt window, when an interrupt waits for IF = 1 and no STI shadow.
// Nothing else: no #PF, no CR access, no hlt, no invlpg — the exits shadow paging takes on
// every page fault, CR3 write and page-table edit do not exist here.

import { match } from 'ts-pattern';
import { PFEC_P, PFEC_U, PFEC_W, VEC_PF } from '../../hw/arch.ts';
import { EPT_RWX, EPT_W } from '../../hw/ept.ts';
import { EPT_QUAL_PERM_SHIFT, EPT_QUAL_WRITE, type ExitInfo } from '../../hw/exits.ts';
import { THRASHING_STALLS, VmxVcpu } from '../core/vmx-entry.ts';
import { deliverInSoftware, portIo, reflect, reinject, tripleFault } from '../core/vmx-exits.ts';
import type { Handled } from '../core/vmx-steps.ts';
import { EPT_OPEN_BUS, isMmioGpa } from './ept-map.ts';
import type { EptVm } from './vm.ts';

export class EptVcpu extends VmxVcpu<EptVm> {
  protected readonly name = 'vmx-ept';
  // Counters (not guest-visible), besides the entry path's `exitsBy` and `nativeRetired`
  // (the cost model's `instructions`).
  /** Instructions and deliveries the VMM performed in software (the cost model's `emulated`). */
  emulated = 0;
  mmioEmulations = 0;
  openBusEmulations = 0;
  openBusMaps = 0;
  /** Instructions and deliveries emulated because their working set did not fit the host. */
  thrashEmulations = 0;

  /** Violations whose access the VMM performed anyway under `forceEmulation`. */
  forcedEmulations = 0;

  constructor(
    vm: EptVm,
    /** Perform in software every access that takes a RAM violation (shadow/vcpu.ts: a test mode). */
    private readonly forceEmulation = false,
  ) {
    super(vm);
  }

  // ---------------------------------------------------------------------------------
  // Entry (core/vmx-entry.ts; this MMU's part)

  /** Nested paging through this VM's EPT; the guest keeps its own CR0/CR3/CR4. */
  protected loadMmu(): void {
    const c = this.vm.vmcs.controls;
    c.eptEnabled = true;
    c.eptPointer = this.vm.ept.rootHpa;
  }

  /** The EPT's soft table budget counts from the last entry that made progress (ept-map.ts). */
  protected override progressed(): void {
    this.vm.ept.progress();
  }

  // ---------------------------------------------------------------------------------
  // Exit dispatch (DESIGN §1: exhaustive over the reasons)

  protected handleExit(exit: ExitInfo): Handled {
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
      const err =
        ((q & EPT_QUAL_WRITE) !== 0 ? PFEC_W : 0) | (g.cpl === 3 ? PFEC_U : 0) | (((q >>> EPT_QUAL_PERM_SHIFT) & 7) !== 0 ? PFEC_P : 0);
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
    if (r === 'unsupported')
      throw new Error(`popek: vmx-ept cannot emulate the instruction at 0x${(this.vm.vmcs.guest.eip >>> 0).toString(16)}`);
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
}
