// The VMM's side of nested paging: one VM's EPT (the format is src/hw/ept.ts), built in
// frames of the VMM pool (DESIGN §6.1: no guest mapping ever reaches them), with the
// shared zero frame of lazy allocation and the MMIO marker.
//
// Leaf entries, by gfn:
//   RAM gfn, resident          hfn = p2m[gfn], R|W|X
//   RAM gfn, never touched     the shared zero frame, R|X (a read costs no allocation;
//                              the first write faults and gets a private frame)
//   RAM gfn, swapped           not present (the next access faults it back in)
//   MMIO window page           W without R: an EPT misconfiguration on purpose, so every
//                              access exits as 'ept-misconfig' (KVM's MMIO sptes)
//   open bus                   the shared all-ones frame, R|X: reads and fetches see 0xFF
//                              bytes natively (DESIGN §3.2); a write exits and is
//                              emulated (dropped) exactly once
// Directory entries are R|W|X and point at EPT tables; a table may be evicted (the host
// event `evict-shadow`, or a full budget or pool) and is rebuilt lazily by violations.
// The budget is soft: a table built since the guest last made progress is never evicted
// to make room for another, so the one instruction whose 2-D walks need several tables at
// once (code, operand, guest tables, IDT, stack in different 4 MiB regions) cannot
// livelock evicting them in turn (KVM tops up its page caches before a fault likewise).
//
// Invariants (checked by audit.ts):
// - E1 the root, every table, the zero and the all-ones frames are pool frames, and hold
//   what their names say;
// - E2 every present leaf is one of the kinds above and agrees with the p2m now: it never
//   names a frame the VM does not own for that gfn, and never a frame for a gfn outside
//   guest RAM;
// - E3 the TLB holds no translation the EPT would not give now: every change that removes
//   a leaf, lowers its permissions or changes its frame is followed by `invept` before
//   the next entry (adding a leaf needs none: failed translations are never cached).

import { EPT_R, EPT_RWX, EPT_W, EPT_X, eptEntry } from '../../hw/ept.ts';
import { MMIO_BASE, MMIO_END } from '../../hw/device.ts';
import { PAGE_SIZE } from '../../hw/arch.ts';
import type { HostMemory } from '../core/host-memory.ts';

/** W without R: the misconfiguration that marks an MMIO page (SDM 28.3.3.1). */
export const EPT_MMIO = EPT_W;
/** Permissions of a gfn that reads as zeros and has no frame yet. */
export const EPT_ZERO = EPT_R | EPT_X;
/** Permissions of an open-bus page: readable and fetchable as 0xFF bytes, never written. */
export const EPT_OPEN_BUS = EPT_R | EPT_X;

export const isMmioGpa = (gpa: number): boolean => gpa >>> 0 >= MMIO_BASE && gpa >>> 0 < MMIO_END;

export interface EptMapOptions {
  /** EPT tables (not counting the root) this VM may hold before it evicts one. */
  maxTables: number;
}

export class EptMap {
  readonly rootHfn: number;
  /** The pool frame every never-touched gfn reads through (all zeros, never writable). */
  readonly zeroHfn: number;
  /** The pool frame every open-bus page reads through (all 0xFF bytes, never writable). */
  readonly onesHfn: number;
  /** Directory index → hfn of its EPT table, in the order they were built (oldest first). */
  readonly tables = new Map<number, number>();

  /** Counters (not guest-visible). */
  readonly stats = { tablesBuilt: 0, tablesEvicted: 0, leavesSet: 0, leavesCleared: 0 };

  /** Bumped when the guest makes progress; a table built in this epoch is kept (above). */
  private epoch = 0;
  private readonly builtIn = new Map<number, number>();

  private readonly ram32: Int32Array;

  constructor(
    private readonly host: HostMemory,
    private readonly opts: EptMapOptions,
    /** `invept` on the host CPU (Vmx.invept). */
    private readonly invept: () => void,
  ) {
    this.ram32 = host.mem.ram32;
    const root = host.allocPool();
    const zero = host.allocPool();
    const ones = host.allocPool();
    if (root < 0 || zero < 0 || ones < 0) throw new RangeError('popek: the VMM pool has no room for an EPT root');
    this.rootHfn = root;
    this.zeroHfn = zero;
    this.onesHfn = ones;
    host.mem.ram.fill(0xff, ones * PAGE_SIZE, (ones + 1) * PAGE_SIZE);
  }

  get rootHpa(): number {
    return this.rootHfn * PAGE_SIZE;
  }

  /** The leaf entry for `gpa` (0 when its table is missing). */
  leaf(gpa: number): number {
    const t = this.tables.get(gpa >>> 22);
    return t === undefined ? 0 : this.ram32[(t * PAGE_SIZE + ((gpa >>> 12) & 0x3ff) * 4) >>> 2]!;
  }

  /**
   * Set the leaf for `gpa` to `hfn` with `perms` (E3: an invept when a present entry
   * changes frame or loses a permission).
   */
  set(gpa: number, hfn: number, perms: number): void {
    const t = this.tableFor(gpa);
    const at = (t * PAGE_SIZE + ((gpa >>> 12) & 0x3ff) * 4) >>> 2;
    const old = this.ram32[at]!;
    const e = eptEntry(hfn * PAGE_SIZE, perms);
    if (old === e) return;
    this.ram32[at] = e;
    this.stats.leavesSet++;
    if ((old & EPT_RWX) !== 0 && ((old & ~0xfff) !== (e & ~0xfff) || (old & EPT_RWX & ~perms) !== 0)) this.invept();
  }

  /** Clear the leaf for `gpa`; `flush` false skips the invept (only a catalog bug does). */
  clear(gpa: number, flush = true): void {
    const t = this.tables.get(gpa >>> 22);
    if (t === undefined) return;
    const at = (t * PAGE_SIZE + ((gpa >>> 12) & 0x3ff) * 4) >>> 2;
    if ((this.ram32[at]! & EPT_RWX) === 0) return;
    this.ram32[at] = 0;
    this.stats.leavesCleared++;
    if (flush) this.invept();
  }

  /** Mark the MMIO window page of `gpa` (see the table at the top). */
  markMmio(gpa: number): void {
    this.set(gpa, 0, EPT_MMIO);
  }

  /** The guest retired an instruction or entered a handler since the last call. */
  progress(): void {
    this.epoch++;
  }

  /** Drop the `count` oldest EPT tables (host event `evict-shadow`); returns how many went. */
  evict(count: number): number {
    return this.evictOlder(count, Infinity);
  }

  /** Drop up to `count` of the oldest tables built before epoch `before`, then invept. */
  private evictOlder(count: number, before: number): number {
    let n = 0;
    for (const d of [...this.tables.keys()]) {
      if (n >= count) break;
      if (this.builtIn.get(d)! >= before) continue;
      this.dropTable(d);
      n++;
    }
    if (n > 0) this.invept();
    return n;
  }

  /** The EPT table covering `gpa`, built (zeroed: all leaves not present) when missing. */
  private tableFor(gpa: number): number {
    const d = gpa >>> 22;
    const t = this.tables.get(d);
    if (t !== undefined) return t;
    if (this.tables.size >= this.opts.maxTables) this.evictOlder(1, this.epoch);
    let hfn = this.host.allocPool();
    if (hfn < 0) {
      // The pool is shared with other VMs: free one of ours and take its frame.
      this.evictOlder(1, this.epoch);
      hfn = this.host.allocPool();
      if (hfn < 0) throw new Error('popek: VMM pool exhausted with no EPT table to evict');
    }
    this.tables.set(d, hfn);
    this.builtIn.set(d, this.epoch);
    this.ram32[(this.rootHfn * PAGE_SIZE + d * 4) >>> 2] = eptEntry(hfn * PAGE_SIZE, EPT_RWX);
    this.stats.tablesBuilt++;
    return hfn;
  }

  private dropTable(d: number): void {
    const hfn = this.tables.get(d)!;
    this.ram32[(this.rootHfn * PAGE_SIZE + d * 4) >>> 2] = 0;
    this.tables.delete(d);
    this.builtIn.delete(d);
    this.host.mem.ram.fill(0, hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE);
    this.host.freePoolFrame(hfn);
    this.stats.tablesEvicted++;
  }
}
