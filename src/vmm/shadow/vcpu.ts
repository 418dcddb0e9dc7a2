// The vCPU of `vmx-shadow` (DESIGN §5, §6): the shadow-paging hooks of the one entry path
// (core/vmx-entry.ts) — the shadow root as the real CR3 before each entry, and every exit
// handled after it. Exit dispatch is one exhaustive ts-pattern match over the hardware's
// exit reasons (DESIGN §1); exits are the slow path.
//
// What exits, and why (the VMCS controls set in `loadMmu`; in/out and the interrupt
// window by the entry path):
// - #PF only, in the exception bitmap: hidden faults fill the shadow (§6.3), true faults
//   are reflected (§6.4), MMIO / open bus / traced stores are emulated (§6.5, §6.9);
// - mov cr3 both ways, and mov cr0 / mov cr4 when they change PG, WP or PSE (guest-host
//   masks with read shadows): the host runs on the shadow root with PG = WP = 1 and PSE
//   = 0 while the guest reads its own values (§6.7);
// - in/out, so each VM has its own console port;
// - the interrupt window, when an interrupt waits for IF = 1 and no STI shadow.
// Everything else — popf/pushf/cli/sti with the guest's own eflags (shadow EFLAGS), sidt
// and str on the guest's own IDTR/TR, int n, iret, exceptions other than #PF — runs
// natively in non-root mode.

import { match } from 'ts-pattern';
import { ACC_PFEC_MASK, CR0_PE, CR0_PG, CR0_WP, CR4_PSE, EFLAGS_IF, VEC_GP, VEC_PF } from '../../hw/arch.ts';
import type { ExitInfo } from '../../hw/exits.ts';
import { THRASHING_STALLS, VmxVcpu } from '../core/vmx-entry.ts';
import { deliverInSoftware, portIo, reflect, reinject, skip, tripleFault } from '../core/vmx-exits.ts';
import type { Handled } from '../core/vmx-steps.ts';
import type { Vm } from './vm.ts';

/** The real CR0 of a guest under shadow paging: paging on, supervisor write protection on. */
const HOST_CR0 = CR0_PE | CR0_PG | CR0_WP;

export class Vcpu extends VmxVcpu<Vm> {
  protected readonly name = 'vmx-shadow';
  /** Counters (not guest-visible). */
  hiddenFaults = 0;
  trueFaults = 0;
  emulations = 0;
  /** Instructions and deliveries emulated because their working set did not fit the host. */
  thrashEmulations = 0;

  /** The host MMU's side-effect-free translation through the shadow (bound once). */
  private readonly probe: (gva: number, access: number) => number;

  /** Hidden faults whose access the VMM performed anyway under `forceEmulation`. */
  forcedEmulations = 0;

  constructor(
    vm: Vm,
    /**
     * Perform in software every access that takes a hidden fault, not only those that
     * cannot run natively: a test mode that puts the emulator in front of every memory
     * instruction (after KVM's force_emulation_prefix, which kvm-unit-tests use alike).
     */
    private readonly forceEmulation = false,
  ) {
    super(vm);
    const mmu = vm.host.cpu.mmu;
    this.probe = (gva, access) => mmu.probe(gva, access);
  }

  // ---------------------------------------------------------------------------------
  // Entry (core/vmx-entry.ts; this MMU's part)

  /** The shadow root as the real CR3, the read shadows and guest-host masks, the exits. */
  protected loadMmu(): void {
    const vm = this.vm;
    const c = vm.vmcs.controls;
    const g = vm.vmcs.guest;
    const paging = vm.syncPaging();
    if (vm.shadow.active === null) vm.shadow.loadRoot(paging);
    c.cr0Mask = CR0_PG | CR0_WP;
    c.cr0ReadShadow = vm.cr0;
    c.cr4Mask = CR4_PSE;
    c.cr4ReadShadow = vm.cr4;
    c.cr3LoadExiting = true;
    c.cr3StoreExiting = true;
    c.hltExiting = false;
    c.invlpgExiting = false;
    c.descriptorTableExiting = false;
    c.exceptionBitmap = 1 << VEC_PF;
    c.externalInterruptExiting = false;
    g.cr0 = HOST_CR0;
    g.cr4 = 0;
    g.cr3 = vm.shadow.rootHpa;
    if (vm.bugs.popfNoShadowIf) g.eflags |= EFLAGS_IF;
    // The TLB is about to hold this VM's translations (the audit's S6 reads it then).
    vm.host.tlbOwner = vm;
  }

  protected override get injectsInStiShadow(): boolean {
    return this.vm.bugs.stiShadowIgnored;
  }

  // ---------------------------------------------------------------------------------
  // Exit dispatch (DESIGN §1: exhaustive over the reasons)

  protected handleExit(exit: ExitInfo): Handled {
    return (
      match(exit.reason)
        .with('exception', () => this.exception(exit))
        .with('cr-access', () => this.crAccess(exit))
        .with('io', () => portIo(this.vm, exit))
        .with('interrupt-window', 'preemption-timer', () => 'none' as const)
        .with('triple-fault', () => tripleFault(this.vm))
        // hlt halts the guest in hardware; invlpg has no architectural effect (DESIGN §3.6)
        // and the shadows are always coherent; sidt/str read the guest's own IDTR/TR.
        .with('hlt', 'invlpg', 'external-interrupt', 'idtr-access', 'tr-access', 'ept-violation', 'ept-misconfig', (r) => {
          throw new Error(`popek: vmx-shadow got exit '${r}', which its controls never enable`);
        })
        .exhaustive()
    );
  }

  // ---- #PF: hidden vs true (README: hidden fault) ----------------------------------

  private exception(exit: ExitInfo): Handled {
    const intr = exit.interruption!;
    if (intr.vector !== VEC_PF) throw new Error(`popek: vmx-shadow got exception exit ${intr.vector}`);
    const vm = this.vm;
    const gva = exit.qualification >>> 0;
    const hwErr = intr.errorCode ?? 0;
    // The hardware error code's W and U bits are the access word's (src/hw/arch.ts).
    const access = hwErr & ACC_PFEC_MASK;
    const paging = vm.syncPaging();
    const g = vm.vmcs.guest;
    vm.emulator.prefetch(this.probe, vm.host.memory.mem.ram, g.eip, g.cpl === 3);
    const rec = vm.walker.walk(paging, gva, access, true);
    if (!rec.ok) {
      this.trueFaults++;
      const err = vm.bugs.pfWrongErrorCode ? hwErr : rec.err;
      return reflect(vm, { vector: VEC_PF, errorCode: err, cr2: gva }, exit.idtVectoring, !vm.bugs.cr2NotSet);
    }
    this.hiddenFaults++;
    const fill = vm.shadow.fill(paging, gva, rec, access);
    // The hardware needs every page of the access mapped at once, and the walker the
    // guest's tables too: on a host too small for that, emulate (THRASHING_STALLS).
    const thrashing = fill === 'mapped' && this.stalls >= THRASHING_STALLS;
    const forced = fill === 'mapped' && !thrashing && this.forceEmulation;
    if (fill === 'mapped' && !thrashing && !forced) {
      reinject(vm, exit.idtVectoring);
      return 'none';
    }
    if (thrashing) this.thrashEmulations++;
    if (forced) this.forcedEmulations++;
    // MMIO, open bus, a store to a traced table, thrashing or forced: emulate (§6.5, §6.9).
    this.emulations++;
    if (exit.idtVectoring !== null) return deliverInSoftware(vm, exit.idtVectoring);
    const r = vm.emulator.step(vm.vmcs.guest, paging);
    if (r === 'retired') return 'retired';
    // Forced, an instruction without a memory operand (its fetch faulted) runs natively.
    if (r === 'unsupported' && forced) return 'none';
    if (r === 'unsupported')
      throw new Error(`popek: vmx-shadow cannot emulate the instruction at 0x${(vm.vmcs.guest.eip >>> 0).toString(16)}`);
    return reflect(vm, r, null);
  }

  // ---- control registers (DESIGN §6.7) -------------------------------------------------

  private crAccess(exit: ExitInfo): Handled {
    const vm = this.vm;
    const g = vm.vmcs.guest;
    const q = exit.qualification;
    const cr = q & 0xf;
    const from = ((q >>> 4) & 3) === 1;
    const reg = (q >>> 8) & 7;
    if (from) {
      // Only CR3 reads exit: the guest's CR3, never the shadow root's hpa.
      g.regs[reg] = cr === 3 ? vm.cr3 : cr === 0 ? this.guestCr0() : vm.cr4;
      return skip(this.vm);
    }
    if (cr !== 0 && cr !== 3 && cr !== 4) throw new Error(`popek: vmx-shadow got a cr-access exit for CR${cr}`);
    if (!vm.writeCr(cr, g.regs[reg]!)) return reflect(vm, { vector: VEC_GP, errorCode: 0 }, null);
    // README: guest CR3 write / paging-mode change — switch to the cached or a new root.
    vm.shadow.loadRoot(vm.syncPaging());
    return skip(this.vm);
  }

  /** What the guest reads as CR0 (the bug shows the host's PG). */
  guestCr0(): number {
    const vm = this.vm;
    return vm.bugs.hostCrLeak ? vm.cr0 | CR0_PG : vm.cr0;
  }
}
