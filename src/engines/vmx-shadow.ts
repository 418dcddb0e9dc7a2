// The `vmx-shadow` engine (DESIGN §5): the guest runs in VMX-lite non-root mode on shadow
// page tables kept by the VMM in src/vmm. Expected to be equivalent to `spec`, under
// every host event (swap-out, migrate, evict-shadow, flush-tlb, reclaim, switch-vm).

import type { HostEvent, Image, MachineConfig } from '../../spec/observation.ts';
import { isHwBug } from '../hw/bugs.ts';
import { EFLAGS_IF, PAGE_SIZE } from '../hw/arch.ts';
import { VmmBugs } from '../vmm/core/bugs.ts';
import { Host } from '../vmm/core/host.ts';
import { Vcpu } from '../vmm/shadow/vcpu.ts';
import { Vm } from '../vmm/shadow/vm.ts';
import { VmxEngine, companionRunner, guestFrames } from './vmx-engine.ts';

export interface VmxShadowOptions {
  /** Host frames for guest RAM; fewer than the guest's frames is overcommit (DESIGN §6.8). */
  hostGuestFrames?: number;
  /** Shadow pages the VM may hold (DESIGN §6.10). */
  maxShadowPages?: number;
  /** Cached shadow roots (DESIGN §6.2); 1 drops and rebuilds at every switch. */
  maxRoots?: number;
  /** Run the audit after every exit and throw on a violation (DESIGN §7 "audit after every exit"). */
  auditEveryExit?: boolean;
  /**
   * A second VM on the same host (DESIGN §6.12), sharing host RAM and the swap disk; it
   * runs `companionSteps` steps at every `switch-vm` event.
   */
  companion?: { image: Image; ramBytes: number };
  companionSteps?: number;
  /** Test mode: the VMM performs every access that takes a hidden fault in software (src/vmm vCPU). */
  forceEmulation?: boolean;
}

export class VmxShadowEngine extends VmxEngine {
  readonly name = 'vmx-shadow';
  readonly host: Host;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  /** The second VM on the host, if configured. */
  readonly companion: Vm | null = null;

  constructor(image: Image, config: MachineConfig, opts: VmxShadowOptions = {}) {
    super(config, opts.auditEveryExit ?? false);
    const bugs = config.bugs ?? [];
    const ramFrames = guestFrames(config);
    const maxPages = opts.maxShadowPages ?? 48;
    const shadow = { maxPages, maxRoots: opts.maxRoots ?? 4 };
    const companionFrames = opts.companion ? opts.companion.ramBytes / PAGE_SIZE : 0;
    const vms = opts.companion ? 2 : 1;
    this.host = new Host(
      { guestFrames: opts.hostGuestFrames ?? ramFrames + companionFrames, poolFrames: vms * (maxPages + 4) },
      bugs.filter(isHwBug),
    );
    this.vm = new Vm(this.host, new VmmBugs(bugs), { ramBytes: config.ramBytes, shadow });
    for (const chunk of image.chunks) this.vm.p2m.load(chunk.addr >>> 0, chunk.bytes);
    this.vm.vmcs.guest.eip = image.entry | 0;
    this.vcpu = new Vcpu(this.vm, opts.forceEmulation ?? false);
    if (opts.companion) {
      // The other VM has no catalog bug: it is the bystander whose isolation is checked.
      const other = new Vm(this.host, new VmmBugs(), { ramBytes: opts.companion.ramBytes, shadow });
      for (const chunk of opts.companion.image.chunks) other.p2m.load(chunk.addr >>> 0, chunk.bytes);
      other.vmcs.guest.eip = opts.companion.image.entry | 0;
      this.companion = other;
      this.host.companion = { vm: other, run: companionRunner(new Vcpu(other), opts.companionSteps ?? 64) };
    }
  }

  fire(event: HostEvent): void {
    if (event.kind === 'irq') {
      if (!Number.isInteger(event.vector) || event.vector < 0 || event.vector > 255) return;
      const g = this.vm.vmcs.guest;
      // The bug drops what the guest cannot take right now instead of holding it pending.
      if (this.vm.bugs.pendingIrqLost && ((g.eflags & EFLAGS_IF) === 0 || g.stiShadow)) return;
      this.vm.raise(event.vector);
      return;
    }
    this.vm.hostEvent(event);
    this.checkAudit();
  }

  protected guestControl(): { cr0: number; cr3: number; cr4: number } {
    return { cr0: this.vcpu.guestCr0(), cr3: this.vm.cr3, cr4: this.vm.cr4 };
  }

  counters(): Record<string, number> {
    const vm = this.vm;
    const vmx = this.host.vmx;
    const c: Record<string, number> = {
      instructions: vm.vmcs.guest.icount,
      nativeRetired: vmx.retired,
      entries: vmx.entries,
      exits: 0,
      hiddenFaults: this.vcpu.hiddenFaults,
      trueFaults: this.vcpu.trueFaults,
      emulations: this.vcpu.emulations,
      thrashEmulations: this.vcpu.thrashEmulations,
      forcedEmulations: this.vcpu.forcedEmulations,
      tlbHits: this.host.cpu.tlbHits,
      tlbMisses: this.host.cpu.tlbMisses,
      walks: this.host.cpu.mmu.walks,
      walkRefs: this.host.cpu.mmu.walkRefs,
      gpteReads: vm.walker.gpteReads,
      swapOuts: vm.p2m.swapOuts,
      swapIns: vm.p2m.swapIns,
      migrations: vm.p2m.migrations,
      ...Object.fromEntries(Object.entries(vm.shadow.stats).map(([k, v]) => [`shadow.${k}`, v])),
    };
    return this.withExits(c, this.vcpu.exitsBy);
  }
}
