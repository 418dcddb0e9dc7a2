// The `vmx-ept` engine (DESIGN §5; issue 7 item 3): the guest runs in VMX-lite non-root
// mode with nested paging — it owns its page tables, the hardware walks gpa → hpa through
// the VMM's EPT (src/vmm/ept). Expected to be equivalent to `spec` under every host event
// (swap-out, migrate, evict-shadow — here: EPT tables —, flush-tlb, reclaim, switch-vm).

import type { HostEvent, Image, MachineConfig } from '../../spec/observation.ts';
import { isHwBug } from '../hw/bugs.ts';
import { PAGE_SIZE } from '../hw/arch.ts';
import { EptBugs } from '../vmm/ept/bugs.ts';
import { EptVcpu } from '../vmm/ept/vcpu.ts';
import { EptVm } from '../vmm/ept/vm.ts';
import { Host } from '../vmm/core/host.ts';
import { VmxEngine, companionRunner, guestFrames } from './vmx-engine.ts';

export interface VmxEptOptions {
  /** Host frames for guest RAM; fewer than the guest's frames is overcommit (DESIGN §6.8). */
  hostGuestFrames?: number;
  /** EPT tables a VM may hold before it evicts one (default: enough for all of its RAM). */
  maxEptTables?: number;
  /** Run the audit after every exit and host event, and throw on a violation (DESIGN §7). */
  auditEveryExit?: boolean;
  /**
   * A second VM on the same host (DESIGN §6.12), sharing host RAM, the VMM pool and the
   * swap disk; it runs `companionSteps` steps at every `switch-vm` event.
   */
  companion?: { image: Image; ramBytes: number };
  companionSteps?: number;
  /** Test mode: the VMM performs every access that takes a hidden fault in software (src/vmm vCPU). */
  forceEmulation?: boolean;
}

/**
 * Tables one instruction can need at once: fetch, operand and delivery accesses (gate,
 * ESP0, pushes), each up to two pages, each a PDE, a PTE and a final gpa.
 */
const POOL_SLACK = 24;

/** EPT tables for RAM of `ramBytes`, the MMIO window and a few open-bus regions. */
const tablesFor = (ramBytes: number): number => Math.ceil(ramBytes / 0x400000) + 4;

export class VmxEptEngine extends VmxEngine {
  readonly name = 'vmx-ept';
  readonly host: Host;
  readonly vm: EptVm;
  readonly vcpu: EptVcpu;
  /** The second VM on the host, if configured. */
  readonly companion: EptVm | null = null;
  private readonly companionRun: (() => void) | null = null;

  constructor(image: Image, config: MachineConfig, opts: VmxEptOptions = {}) {
    super(config, opts.auditEveryExit ?? false);
    const bugs = config.bugs ?? [];
    const ramFrames = guestFrames(config);
    const companionFrames = opts.companion ? opts.companion.ramBytes / PAGE_SIZE : 0;
    const tables = (ram: number) => opts.maxEptTables ?? tablesFor(ram);
    // Per VM: the root, the zero and all-ones frames, its tables, and room for the tables
    // one instruction may need beyond the budget (ept-map.ts: the budget is soft).
    const perVm = (ram: number) => 3 + tables(ram) + POOL_SLACK;
    const poolFrames = perVm(config.ramBytes) + (opts.companion ? perVm(opts.companion.ramBytes) : 0);
    this.host = new Host(
      { guestFrames: opts.hostGuestFrames ?? ramFrames + companionFrames, poolFrames: Math.max(4, poolFrames) },
      bugs.filter(isHwBug),
    );
    this.vm = new EptVm(this.host, new EptBugs(bugs), { ramBytes: config.ramBytes, maxEptTables: tables(config.ramBytes) });
    for (const chunk of image.chunks) this.vm.p2m.load(chunk.addr >>> 0, chunk.bytes);
    this.vm.vmcs.guest.eip = image.entry | 0;
    this.vcpu = new EptVcpu(this.vm, opts.forceEmulation ?? false);
    if (opts.companion) {
      // The other VM has no catalog bug: it is the bystander whose isolation is checked.
      const c = opts.companion;
      const other = new EptVm(this.host, new EptBugs(), { ramBytes: c.ramBytes, maxEptTables: tables(c.ramBytes) });
      for (const chunk of c.image.chunks) other.p2m.load(chunk.addr >>> 0, chunk.bytes);
      other.vmcs.guest.eip = c.image.entry | 0;
      this.companion = other;
      this.companionRun = companionRunner(new EptVcpu(other), opts.companionSteps ?? 64);
    }
  }

  fire(event: HostEvent): void {
    if (event.kind === 'irq') {
      if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.vm.raise(event.vector);
      return;
    }
    // switch-vm: the host runs the other VM for a while (entering its VMCS flushes the
    // TLB on the way back); alone, it is a plain TLB flush.
    this.vm.hostEvent(event, () => (this.companionRun !== null ? this.companionRun() : this.host.vmx.flushTlb()));
    this.checkAudit();
  }

  /** The guest's own control registers: nested paging needs no read shadows. */
  protected guestControl(): { cr0: number; cr3: number; cr4: number } {
    const g = this.vm.vmcs.guest;
    return { cr0: g.cr0, cr3: g.cr3, cr4: g.cr4 };
  }

  /**
   * Not guest-visible. The DESIGN §9 cost model (src/cli/cost-model.ts) costs
   * `instructions` (retired natively), `exits`, `walkRefs` (2-D walk references) and
   * `emulated`; the rest is shown.
   */
  counters(): Record<string, number> {
    const vm = this.vm;
    const { cpu, vmx } = this.host;
    const c: Record<string, number> = {
      instructions: this.vcpu.nativeRetired,
      guestInstructions: vm.vmcs.guest.icount,
      emulated: this.vcpu.emulated,
      exits: 0,
      eptViolations: this.vcpu.exitsBy['ept-violation'] ?? 0,
      eptMisconfigs: this.vcpu.exitsBy['ept-misconfig'] ?? 0,
      walkRefs: cpu.mmu.walkRefs,
      eptRefs: vmx.ept.refs,
      walks: cpu.mmu.walks,
      tlbHits: cpu.tlbHits,
      tlbMisses: cpu.tlbMisses,
      invepts: vmx.invepts,
      tlbFlushes: cpu.tlb.flushes,
      entries: vmx.entries,
      mmioEmulations: this.vcpu.mmioEmulations,
      openBusEmulations: this.vcpu.openBusEmulations,
      openBusMaps: this.vcpu.openBusMaps,
      thrashEmulations: this.vcpu.thrashEmulations,
      forcedEmulations: this.vcpu.forcedEmulations,
      swapOuts: vm.p2m.swapOuts,
      swapIns: vm.p2m.swapIns,
      migrations: vm.p2m.migrations,
      ...Object.fromEntries(Object.entries(vm.stats).map(([k, v]) => [`vm.${k}`, v])),
      ...Object.fromEntries(Object.entries(vm.ept.stats).map(([k, v]) => [`ept.${k}`, v])),
    };
    return this.withExits(c, this.vcpu.exitsBy);
  }
}
