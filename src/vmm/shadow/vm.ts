// One VM on a host (DESIGN §6.12): its guest RAM (p2m), its shadow MMU, walker and
// emulator, its devices (the MMIO device, the console port), its virtual interrupt
// controller (pending vectors) and the guest's own view of the control registers.
// The vCPU that runs it is vcpu.ts; the host it shares RAM and swap with is core/host.ts.

import { PendingVectors } from '../core/pending.ts';
import { hostEvent, type HostOnlyEvent } from '../core/host-events.ts';
import { MmioDevice } from '../../hw/device.ts';
import { Vmcs } from '../../hw/vmcs.ts';
import { CR0_PE, CR0_PG, CR0_WP, CR4_PSE } from '../../hw/arch.ts';
import type { VmmBugs } from '../core/bugs.ts';
import { Emulator } from '../core/emulate.ts';
import type { Host } from '../core/host.ts';
import { P2m } from '../core/p2m.ts';
import { ShadowMmu, type ShadowOptions } from './mmu.ts';
import { GuestWalker, type GuestPaging } from '../core/walker.ts';
import { audit } from './audit.ts';

export interface VmOptions {
  ramBytes: number;
  shadow: ShadowOptions;
  /** Told of every store the emulator performs, after memory tracing (the bt VMM's translated-code tracing). */
  onStore?: (gpa: number, len: number) => void;
}

export class Vm extends PendingVectors {
  readonly id: number;
  readonly p2m: P2m;
  readonly walker: GuestWalker;
  readonly shadow: ShadowMmu;
  readonly emulator: Emulator;
  readonly device = new MmioDevice();
  readonly console: number[] = [];
  readonly vmcs = new Vmcs();

  /** The guest's own CR0/CR3/CR4 (DESIGN §6.7: what the guest reads; the host runs on others). */
  cr0 = CR0_PE;
  cr3 = 0;
  cr4 = 0;
  shutdown = false;

  /** The guest paging controls, rewritten in place (no allocation per exit). */
  readonly paging: GuestPaging = { pg: false, wp: false, pse: false, cr3: 0 };

  constructor(
    readonly host: Host,
    readonly bugs: VmmBugs,
    opts: VmOptions,
  ) {
    super();
    const p2m = P2m.register(host.memory, opts.ramBytes);
    this.p2m = p2m;
    this.id = p2m.vmId;
    this.shadow = new ShadowMmu(host.memory, p2m, bugs, opts.shadow, () => host.vmx.flushTlb());
    // DESIGN §6.8: before a frame moves, every spte mapping it goes, found through the rmap.
    p2m.unmap = bugs.rmapMissedOnSwapOut ? () => {} : (gfn) => this.shadow.zapGfn(gfn);
    this.walker = new GuestWalker(p2m, bugs);
    const onStore = opts.onStore;
    const shadow = this.shadow;
    const tracer = onStore ? { tracedWrite: (gpa: number, len: number) => (shadow.tracedWrite(gpa, len), onStore(gpa, len)) } : shadow;
    this.emulator = new Emulator(p2m, this.walker, tracer, this.device, bugs);
  }

  /**
   * The guest's `mov crN, a` to CR0, CR3 or CR4 (DESIGN §3.4, §6.7): records the value it
   * will read back; false, changing nothing, when the value faults with #GP(0) (CR0.PE
   * clear or a bit that does not exist). The caller then switches shadow roots.
   */
  writeCr(cr: 0 | 3 | 4, v: number): boolean {
    if (cr === 0) {
      if ((v & CR0_PE) === 0 || (v & ~(CR0_PE | CR0_WP | CR0_PG)) !== 0) return false;
      this.cr0 = v;
    } else if (cr === 4) {
      if ((v & ~CR4_PSE) !== 0) return false;
      this.cr4 = v;
    } else this.cr3 = v & ~0xfff;
    return true;
  }

  /** Refresh `paging` from the guest's control registers. */
  syncPaging(): GuestPaging {
    const p = this.paging;
    p.pg = (this.cr0 & CR0_PG) !== 0;
    p.wp = (this.cr0 & CR0_WP) !== 0;
    p.pse = (this.cr4 & CR4_PSE) !== 0;
    p.cr3 = this.cr3 >>> 0;
    return p;
  }

  /** Host-only events (DESIGN §3.8, core/host-events.ts): shadow pages are what eviction sheds. */
  hostEvent(e: HostOnlyEvent): void {
    hostEvent(this.host, this.p2m, e, {
      migrate: (gfn) => void this.p2m.migrate(gfn),
      evict: (count) => void this.shadow.evict(count),
      switchVm: () => this.host.switchVm(this),
    });
  }

  /** DESIGN §6.13: every invariant, from scratch. */
  audit(): string[] {
    return audit({
      host: this.host.memory,
      p2m: this.p2m,
      shadow: this.shadow,
      tlb: this.host.tlbOwner === this ? this.host.cpu.tlb : null,
      guest: { cr0: this.cr0, cr4: this.cr4 },
    });
  }
}
