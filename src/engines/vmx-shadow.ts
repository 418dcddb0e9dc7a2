// The `vmx-shadow` engine (DESIGN §5): the guest runs in VMX-lite non-root mode on shadow
// page tables kept by the VMM in src/vmm. Expected to be equivalent to `spec`, under
// every host event (swap-out, migrate, evict-shadow, flush-tlb, reclaim, switch-vm).

import type { Engine, HostEvent, Image, MachineConfig, Observation, Status, StepOutcome } from '../../spec/observation.ts';
import { isHwBug } from '../hw/bugs.ts';
import { PAGE_SIZE } from '../vmm/bits.ts';
import { VmmBugs } from '../vmm/bugs.ts';
import { Host } from '../vmm/host.ts';
import { Vcpu } from '../vmm/vcpu.ts';
import { Vm } from '../vmm/vm.ts';
import { Schedule } from './schedule.ts';
import { runVcpu } from '../vmm/vmx-steps.ts';
import { regsByName, vmObservation } from './vm-observation.ts';


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
}

export class VmxShadowEngine implements Engine {
  readonly name = 'vmx-shadow';
  readonly host: Host;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  /** The second VM on the host, if configured. */
  readonly companion: Vm | null = null;
  private readonly ramCopy: Uint8Array;
  private readonly auditEveryExit: boolean;

  constructor(image: Image, config: MachineConfig, opts: VmxShadowOptions = {}) {
    const bugs = config.bugs ?? [];
    const ramFrames = config.ramBytes / PAGE_SIZE;
    if (!Number.isInteger(ramFrames) || ramFrames <= 0 || ramFrames > 0x40000) {
      throw new RangeError(`popek: RAM size must be a positive multiple of 4096 up to 1 GiB, got ${config.ramBytes}`);
    }
    const maxPages = opts.maxShadowPages ?? 48;
    const shadow = { maxPages, maxRoots: opts.maxRoots ?? 4 };
    const companionFrames = opts.companion ? opts.companion.ramBytes / PAGE_SIZE : 0;
    const vms = opts.companion ? 2 : 1;
    this.host = new Host(
      { guestFrames: opts.hostGuestFrames ?? ramFrames + companionFrames, poolFrames: vms * (maxPages + 4) },
      bugs.filter(isHwBug),
    );
    this.vm = new Vm(this.host, new VmmBugs(bugs), { ramBytes: config.ramBytes, shadow });
    for (const chunk of image.chunks) this.vm.load(chunk.addr >>> 0, chunk.bytes);
    this.vm.vmcs.guest.eip = image.entry | 0;
    this.vcpu = new Vcpu(this.vm);
    if (opts.companion) {
      // The other VM has no catalog bug: it is the bystander whose isolation is checked.
      const other = new Vm(this.host, new VmmBugs(), { ramBytes: opts.companion.ramBytes, shadow });
      for (const chunk of opts.companion.image.chunks) other.load(chunk.addr >>> 0, chunk.bytes);
      other.vmcs.guest.eip = opts.companion.image.entry | 0;
      const vcpu = new Vcpu(other);
      const quantum = opts.companionSteps ?? 64;
      this.companion = other;
      this.host.companion = {
        vm: other,
        run: () => {
          for (let n = 0; n < quantum && !other.shutdown && !vcpu.blockedHalted(); ) n += vcpu.enter(quantum - n).steps || 1;
        },
      };
    }
    this.ramCopy = new Uint8Array(config.ramBytes);
    this.auditEveryExit = opts.auditEveryExit ?? false;
  }

  fire(event: HostEvent): void {
    if (event.kind === 'irq') {
      if (!Number.isInteger(event.vector) || event.vector < 0 || event.vector > 255) return;
      const g = this.vm.vmcs.guest;
      // The bug drops what the guest cannot take right now instead of holding it pending.
      if (this.vm.bugs.pendingIrqLost && ((g.eflags & 0x200) === 0 || g.stiShadow)) return;
      this.vm.raise(event.vector);
      return;
    }
    this.vm.hostEvent(event);
    this.checkAudit();
  }

  step(): StepOutcome {
    const o = this.vcpu.step();
    this.checkAudit();
    return o;
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    runVcpu(this.vcpu, new Schedule(events), (e) => this.fire(e), maxSteps, () => this.checkAudit());
    return this.observe();
  }

  private checkAudit(): void {
    if (!this.auditEveryExit) return;
    const v = this.vm.audit();
    if (v.length > 0) throw new Error(`popek: audit failed:\n${v.join('\n')}`);
  }

  observe(): Observation {
    const vm = this.vm;
    const g = vm.vmcs.guest;
    return vmObservation(vm, this.ramCopy, {
      status: this.status(),
      icount: g.icount,
      regs: regsByName(g.regs),
      eip: g.eip >>> 0,
      eflags: g.eflags >>> 0,
      cpl: g.cpl,
      cr0: this.vcpu.guestCr0() >>> 0,
      cr2: g.cr2 >>> 0,
      cr3: vm.cr3 >>> 0,
      cr4: vm.cr4 >>> 0,
      idtr: { base: g.idtrBase >>> 0, limit: g.idtrLimit },
      tr: g.tr >>> 0,
      trace: g.trace.map((t) => ({ ...t })),
    });
  }

  icount(): number {
    return this.vm.vmcs.guest.icount;
  }

  status(): Status {
    return this.vm.shutdown ? 'shutdown' : this.vm.vmcs.guest.halted ? 'halted' : 'running';
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
    for (const [reason, n] of Object.entries(this.vcpu.exitsBy)) {
      c[`exit.${reason}`] = n;
      c.exits! += n;
    }
    return c;
  }
}
