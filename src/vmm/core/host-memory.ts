// Host memory shared by every VM on one host (DESIGN §6.8, §6.12): the host's physical
// RAM (the PhysMem the CPU runs on), a frame allocator over it, and a simulated swap disk.
//
// Host RAM is cut in two ranges, fixed at construction:
//   [0, guestFrames)                 frames that hold guest RAM, any VM's, allocated lazily
//   [poolBase, poolBase+poolFrames)  the VMM's own pool: shadow pages (DESIGN §6.1, the
//                                    lecture's 0x12000/0x23000). No spte may ever name one.
//
// Invariants (checked by `auditHostMemory`, and per VM by shadow/audit.ts and ept/audit.ts):
// - `owner[hfn]` is 0 for a free frame, POOL for a pool frame in use, and the id (≥ 1) of
//   the VM whose p2m maps it otherwise; then `ownerGfn[hfn]` is that gfn and the VM's
//   p2m maps exactly that gfn to hfn (a frame is never shared between gfns or VMs);
// - a free frame is on exactly one free list, and only frames of its range are on it;
// - guest frames may be fewer than the guests' RAM together (overcommit): when none is
//   free, a victim is swapped out (a clock over the guest range), so allocation always
//   succeeds while at least one guest frame exists and is not pinned.
//
// Public as `popek/host` (package.json "exports"), for a user's VMM that does swap with
// backward maps (docs/writing-a-vmm.md §4). Not part of `popek/hw`: a frame allocator with
// a victim policy and a swap disk are the host *kernel's* services — KVM asks Linux's mm
// for pages and Linux swaps them — software over the hardware, written here once for every
// VMM (DESIGN §1 puts host memory in src/vmm/core). A VMM registers itself
// (`register(owner)` → its VM id), takes zeroed frames for its gfns (`allocGuest`) and for
// its shadow pages (`allocPool`), and answers `evict(gfn)` when the host reclaims a frame
// (overcommit, the `reclaim` event); the disk (`swap.put` / `take` / `peek`) holds pages by
// slot. The CPU runs on `mem`.

import { PhysMem } from '../../hw/memory.ts';
import { PAGE_SIZE } from '../../hw/arch.ts';

export const FREE = 0;
export const POOL = -1;

/** What the allocator asks of a VM whose frame it takes back. */
export interface FrameOwner {
  /** Swap guest frame `gfn` out to the disk and release its host frame. */
  evict(gfn: number): void;
}

/** A simulated swap disk: 4 KiB slots, shared by every VM (DESIGN §6.12). */
export class SwapDisk {
  private readonly slots: (Uint8Array | null)[] = [];
  private readonly freeSlots: number[] = [];
  /** Counters (not guest-visible). */
  writes = 0;
  reads = 0;

  /** Store a copy of one page; returns its slot. */
  put(page: Uint8Array): number {
    this.writes++;
    const copy = page.slice(0, PAGE_SIZE);
    const slot = this.freeSlots.pop();
    if (slot !== undefined) {
      this.slots[slot] = copy;
      return slot;
    }
    this.slots.push(copy);
    return this.slots.length - 1;
  }

  /** Read a slot without releasing it (audits, observation). */
  peek(slot: number): Uint8Array {
    const s = this.slots[slot];
    if (!s) throw new Error(`popek: swap slot ${slot} is empty`);
    return s;
  }

  /** Copy a slot into `into` and release it. */
  take(slot: number, into: Uint8Array): void {
    into.set(this.peek(slot));
    this.reads++;
    this.slots[slot] = null;
    this.freeSlots.push(slot);
  }

  get used(): number {
    return this.slots.length - this.freeSlots.length;
  }
}

export interface HostMemoryConfig {
  /** Host frames for guest RAM (all VMs together). */
  guestFrames: number;
  /** Host frames of the VMM pool (shadow pages). */
  poolFrames: number;
}

export class HostMemory {
  readonly mem: PhysMem;
  readonly guestFrames: number;
  readonly poolBase: number;
  readonly poolFrames: number;
  readonly swap = new SwapDisk();
  /** Per host frame: FREE, POOL, or the owning VM's id. */
  readonly owner: Int32Array;
  /** Per guest-range host frame: the gfn it holds for its owner (−1 when free). */
  readonly ownerGfn: Int32Array;
  /** Frames that must not be chosen as swap victims right now (the one being filled). */
  readonly pinned: Uint8Array;

  private readonly freeGuest: number[] = [];
  private readonly freePool: number[] = [];
  private readonly vms = new Map<number, FrameOwner>();
  private nextVmId = 1;
  private clock = 0;

  /** Counters (not guest-visible). */
  evictions = 0;

  constructor(c: HostMemoryConfig) {
    if (c.guestFrames < 2 || c.poolFrames < 4) throw new RangeError('popek: host needs ≥ 2 guest frames and ≥ 4 pool frames');
    this.guestFrames = c.guestFrames;
    this.poolBase = c.guestFrames;
    this.poolFrames = c.poolFrames;
    this.mem = new PhysMem((c.guestFrames + c.poolFrames) * PAGE_SIZE);
    this.owner = new Int32Array(this.mem.frames);
    this.ownerGfn = new Int32Array(this.mem.frames).fill(-1);
    this.pinned = new Uint8Array(this.mem.frames);
    // Hand frames out in ascending order (pop from the end of a descending list).
    for (let f = c.guestFrames - 1; f >= 0; f--) this.freeGuest.push(f);
    for (let f = this.poolBase + c.poolFrames - 1; f >= this.poolBase; f--) this.freePool.push(f);
  }

  register(vm: FrameOwner): number {
    const id = this.nextVmId++;
    this.vms.set(id, vm);
    return id;
  }

  isPoolFrame(hfn: number): boolean {
    return hfn >= this.poolBase && hfn < this.poolBase + this.poolFrames;
  }

  /** A zeroed guest frame for (vm, gfn); swaps a victim out when none is free (overcommit). */
  allocGuest(vmId: number, gfn: number): number {
    let hfn = this.freeGuest.pop();
    if (hfn === undefined) {
      this.evictOne();
      hfn = this.freeGuest.pop();
      if (hfn === undefined) throw new Error('popek: host out of guest frames with every frame pinned');
    }
    this.owner[hfn] = vmId;
    this.ownerGfn[hfn] = gfn;
    this.mem.ram.fill(0, hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE);
    return hfn;
  }

  freeGuestFrame(hfn: number): void {
    this.owner[hfn] = FREE;
    this.ownerGfn[hfn] = -1;
    this.pinned[hfn] = 0;
    this.freeGuest.push(hfn);
  }

  /** A zeroed pool frame, or −1 when the pool is exhausted (the shadow MMU then evicts). */
  allocPool(): number {
    const hfn = this.freePool.pop();
    if (hfn === undefined) return -1;
    this.owner[hfn] = POOL;
    this.mem.ram.fill(0, hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE);
    return hfn;
  }

  freePoolFrame(hfn: number): void {
    this.owner[hfn] = FREE;
    this.freePool.push(hfn);
  }

  get freeGuestCount(): number {
    return this.freeGuest.length;
  }

  get freePoolCount(): number {
    return this.freePool.length;
  }

  /** Host event `reclaim {frames}` (DESIGN §3.8): the host takes frames back, at most 4096. */
  reclaim(frames: number): void {
    for (let i = 0; i < Math.min(frames | 0, 4096); i++) if (!this.evictOne()) break;
  }

  /** Swap out the next allocated, unpinned guest frame (a clock over the guest range). */
  evictOne(): boolean {
    for (let i = 0; i < this.guestFrames; i++) {
      const hfn = this.clock;
      this.clock = (this.clock + 1) % this.guestFrames;
      const id = this.owner[hfn]!;
      if (id <= 0 || this.pinned[hfn] !== 0) continue;
      this.evictions++;
      this.vms.get(id)!.evict(this.ownerGfn[hfn]!);
      return true;
    }
    return false;
  }
}

/** Host-level invariants (see the block above); returns the violations found. */
export function auditHostMemory(h: HostMemory): string[] {
  const out: string[] = [];
  for (let hfn = 0; hfn < h.mem.frames; hfn++) {
    const o = h.owner[hfn]!;
    const inPool = h.isPoolFrame(hfn);
    if (o === POOL && !inPool) out.push(`host frame ${hfn} is a pool frame outside the pool`);
    if (o > 0 && inPool) out.push(`host frame ${hfn} of the pool is owned by VM ${o}`);
    if (o > 0 && h.ownerGfn[hfn]! < 0) out.push(`host frame ${hfn} owned by VM ${o} names no gfn`);
  }
  return out;
}
