// One VM of the vmx-ept VMM (DESIGN §5, §6.8, §6.12): its guest RAM (the shared p2m of
// src/vmm), its EPT (ept-map.ts), the emulator for MMIO and open bus, its devices, its
// virtual interrupt controller, and how its host memory reacts to each event. The guest
// owns its page tables and its CR0/CR3/CR4 outright: there is no shadow state at all.
// The vCPU is vcpu.ts; the host (CPU, VMX-lite, host RAM, swap disk) is core/host.ts.

import { PendingVectors } from '../core/pending.ts';
import { hostEvent, type HostOnlyEvent } from '../core/host-events.ts';
import { EPT_RWX, EPT_W } from '../../hw/ept.ts';
import { MmioDevice } from '../../hw/device.ts';
import { Vmcs } from '../../hw/vmcs.ts';
import { CR0_PG, CR0_WP, CR4_PSE, PAGE_SHIFT } from '../../hw/arch.ts';
import { VmmBugs } from '../core/bugs.ts';
import type { Emulator } from '../core/emulate.ts';
import type { Host } from '../core/host.ts';
import { P2m } from '../core/p2m.ts';
import { GuestWalker, type GuestPaging } from '../core/walker.ts';
import type { EptBugs } from './bugs.ts';
import { eptEmulator } from './emulator.ts';
import { EPT_ZERO, EptMap } from './ept-map.ts';
import { auditEpt } from './audit.ts';

export interface EptVmOptions {
  ramBytes: number;
  /** EPT tables the VM may hold before it evicts one (ept-map.ts). */
  maxEptTables: number;
}

export class EptVm extends PendingVectors {
  readonly id: number;
  readonly p2m: P2m;
  readonly ept: EptMap;
  readonly walker: GuestWalker;
  readonly emulator: Emulator;
  readonly device = new MmioDevice();
  readonly console: number[] = [];
  readonly vmcs = new Vmcs();
  shutdown = false;
  /** The guest paging controls for the VMM's walker, rewritten in place. */
  readonly paging: GuestPaging = { pg: false, wp: false, pse: false, cr3: 0 };

  /** Per gfn: the host frame it last lived in before swap-out (swap-in picks another). */
  private readonly lastHfn: Int32Array;

  /** Counters (not guest-visible). */
  readonly stats = { zeroMaps: 0, lazyAllocations: 0, cowBreaks: 0, swapInFaults: 0, remaps: 0, tlbFlushesForStores: 0 };

  constructor(
    readonly host: Host,
    readonly bugs: EptBugs,
    opts: EptVmOptions,
  ) {
    super();
    const p2m = P2m.register(host.memory, opts.ramBytes);
    this.p2m = p2m;
    this.id = p2m.vmId;
    this.lastHfn = new Int32Array(p2m.frames).fill(-1);
    this.ept = new EptMap(host.memory, { maxTables: opts.maxEptTables }, () => host.vmx.invept());
    // DESIGN §6.8 under EPT: before a frame stops holding its gfn (swap-out, migration,
    // overcommit), its one EPT leaf goes, then invept (the bug forgets the invept).
    p2m.unmap = (gfn) => {
      this.lastHfn[gfn] = p2m.resident(gfn);
      this.ept.clear(gfn << PAGE_SHIFT, !bugs.noInveptAfterSwapOut);
    };
    // The walker and the emulator of src/vmm, with the emulator's own catalog bugs only
    // (EMULATOR_BUGS: none of the shadow MMU's or the walker's).
    const vmmBugs = new VmmBugs(bugs.emulator);
    this.walker = new GuestWalker(p2m, vmmBugs);
    this.emulator = eptEmulator(p2m, this.walker, this.device, vmmBugs, (gpa, len) => this.emulatedStore(gpa, len));
  }

  /** The guest's paging controls as the guest set them (its own CR0/CR3/CR4). */
  syncPaging(): GuestPaging {
    const g = this.vmcs.guest;
    const p = this.paging;
    p.pg = (g.cr0 & CR0_PG) !== 0;
    p.wp = (g.cr0 & CR0_WP) !== 0;
    p.pse = (g.cr4 & CR4_PSE) !== 0;
    p.cr3 = (g.cr3 & ~0xfff) >>> 0;
    return p;
  }

  /**
   * An EPT violation at RAM gpa `gpa` for an access needing `access` (EPT_R/W/X): make
   * the gfn reachable (README, "EPT violation"). The caller re-enters; nothing here is
   * guest-visible.
   */
  resolve(gpa: number, access: number): void {
    const p2m = this.p2m;
    const gfn = gpa >>> PAGE_SHIFT;
    const write = (access & EPT_W) !== 0;
    let hfn = p2m.resident(gfn);
    if (hfn < 0 && p2m.isSwapped(gfn)) {
      hfn = this.swapIn(gfn);
      this.stats.swapInFaults++;
    } else if (hfn < 0 && (!write || this.bugs.zeroPageWritable)) {
      // Never touched and only read or fetched: share the zero frame (no allocation). The
      // bug shares it writable, for writes too: copy-on-write is gone.
      this.ept.set(gpa, this.ept.zeroHfn, this.bugs.zeroPageWritable ? EPT_RWX : EPT_ZERO);
      this.stats.zeroMaps++;
      return;
    } else if (hfn < 0) {
      const wasZero = this.ept.leaf(gpa) >>> 12 === this.ept.zeroHfn;
      hfn = p2m.ensure(gfn);
      if (wasZero) this.stats.cowBreaks++;
      else this.stats.lazyAllocations++;
    } else this.stats.remaps++;
    this.ept.set(gpa, hfn, EPT_RWX);
  }

  /**
   * Swap `gfn` back in, into a host frame other than the one it left (DESIGN §6.8 "into a
   * new frame"): the allocator hands out the most recently freed frame first, so when
   * that is the old one it is held aside (pinned, so overcommit cannot pick it) while the
   * p2m allocates.
   */
  private swapIn(gfn: number): number {
    const mem = this.host.memory;
    const hold = mem.allocGuest(this.id, gfn);
    if (hold !== this.lastHfn[gfn]) {
      mem.freeGuestFrame(hold);
      return this.p2m.ensure(gfn);
    }
    mem.pinned[hold] = 1;
    const hfn = this.p2m.ensure(gfn);
    mem.freeGuestFrame(hold);
    return hfn;
  }

  /**
   * A store the emulator made (emulator.ts): move a zero-frame leaf to the frame the store
   * allocated, and flush the TLB when the frame holds a guest table a cached translation
   * was walked through (DESIGN §3.6: the next access must see the store).
   */
  private emulatedStore(gpa: number, _len: number): void {
    if (gpa >>> 0 >= this.p2m.ramBytes) return; // open bus: the bytes were dropped
    const hfn = this.p2m.resident(gpa >>> PAGE_SHIFT);
    if (hfn < 0) return;
    const leaf = this.ept.leaf(gpa);
    if ((leaf & EPT_RWX) !== 0 && leaf >>> 12 !== hfn) this.ept.set(gpa, hfn, EPT_RWX);
    const tlb = this.host.cpu.tlb;
    if (tlb.isTable[hfn] !== 0) {
      this.stats.tlbFlushesForStores++;
      this.host.vmx.flushTlb();
    }
  }

  /** Host-only events (DESIGN §3.8, core/host-events.ts). */
  hostEvent(e: HostOnlyEvent, switchVm: () => void): void {
    hostEvent(this.host, this.p2m, e, {
      // Copy to a new frame (the p2m), then remap at once: the unmap hook already cleared
      // the leaf and ran invept, so the guest cannot see the old frame.
      migrate: (gfn) => {
        if (this.p2m.migrate(gfn)) this.ept.set(gfn << PAGE_SHIFT, this.p2m.resident(gfn), EPT_RWX);
      },
      // The EPT's own paging structures are what nested paging can shed (KVM's TDP MMU
      // shrinker): tables are rebuilt by the violations that follow.
      evict: (count) => void this.ept.evict(count),
      switchVm,
    });
  }

  /** DESIGN §6.13 for nested paging: every invariant, from scratch (audit.ts). */
  audit(): string[] {
    const { cpu, vmx } = this.host;
    // The TLB holds this VM's translations when its EPT was the last one entered.
    const mine = cpu.mmu.ept !== null && vmx.ept.root === this.ept.rootHpa;
    return auditEpt({ host: this.host.memory, p2m: this.p2m, ept: this.ept, tlb: mine ? cpu.tlb : null, mmu: mine ? cpu.mmu : null });
  }
}
