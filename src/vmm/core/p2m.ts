// A VM's guest RAM as host memory holds it (DESIGN §6.8): the p2m (gfn → hfn) with lazy
// allocation, swap-out to the shared disk, swap-in on demand into a new frame, migration.
// Everything the VMM does to guest RAM — its walker's gpte reads and A/D writes, emulated
// stores, the observation — goes through here, so it always sees the current frame.
//
// Invariants (checked by `auditP2m` below, which both VMMs' audits run):
// - p2m[gfn] ≥ 0: the gfn lives in host frame p2m[gfn], owned by this VM for this gfn
//   (host-memory.ts); ABSENT: never touched, reads as zeros (DESIGN §3.10.13);
//   ≤ SWAPPED_BASE: on the disk, slot SWAPPED_BASE − p2m[gfn];
// - conversely every host frame owned by this VM holds the gfn it records (no leaks);
// - before a frame stops holding its gfn (swap-out, migration), `unmap(gfn)` has removed
//   every spte that maps it (the shadow MMU's rmap walk, DESIGN §6.8) and flushed the TLB.

import { PAGE_SIZE } from '../../hw/arch.ts';
import type { HostMemory } from './host-memory.ts';

export const ABSENT = -1;
const SWAPPED_BASE = -2;
const isSwapped = (v: number): boolean => v <= SWAPPED_BASE;
const slotOf = (v: number): number => SWAPPED_BASE - v;

/** gpa of a RAM byte? (DESIGN §3.2: RAM is [0, ramBytes).) */
export class P2m {
  readonly p2m: Int32Array;
  readonly ramBytes: number;
  readonly frames: number;
  /** Set by the VM: zap every spte of `gfn` before its frame moves (the rmap walk). */
  unmap: (gfn: number) => void = () => {};

  /**
   * Contents in transit (auditP2m): the digest of each swapped-out gfn's page taken when it
   * left, and what went wrong when a page came back (swap-in, migration) different.
   */
  readonly departed = new Map<number, number>();
  readonly contentErrors: string[] = [];

  /** Counters (not guest-visible). */
  allocations = 0;
  swapOuts = 0;
  swapIns = 0;
  migrations = 0;

  constructor(
    readonly host: HostMemory,
    readonly vmId: number,
    ramBytes: number,
  ) {
    this.ramBytes = ramBytes;
    this.frames = ramBytes / PAGE_SIZE;
    this.p2m = new Int32Array(this.frames).fill(ABSENT);
  }

  /**
   * A new VM's p2m, registered with host memory so that overcommit can swap its frames
   * out (DESIGN §6.8, §6.12); its `vmId` is the VM's id.
   */
  static register(host: HostMemory, ramBytes: number): P2m {
    let p2m: P2m | null = null;
    const vmId = host.register({ evict: (gfn) => void p2m!.swapOut(gfn) });
    p2m = new P2m(host, vmId, ramBytes);
    return p2m;
  }

  /** The host frame of `gfn`, allocating (zeroed) or swapping in as needed. */
  ensure(gfn: number): number {
    const v = this.p2m[gfn]!;
    if (v >= 0) return v;
    const host = this.host;
    const hfn = host.allocGuest(this.vmId, gfn);
    const cur = this.p2m[gfn]!; // allocGuest may have evicted; never this gfn (it had no frame)
    if (isSwapped(cur)) {
      host.swap.take(slotOf(cur), host.mem.ram.subarray(hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE));
      this.arrived(gfn, hfn, 'swap-in');
      this.swapIns++;
    } else this.allocations++;
    this.p2m[gfn] = hfn;
    return hfn;
  }

  /** The host frame of `gfn` if it is resident, else −1 (no side effect). */
  resident(gfn: number): number {
    const v = this.p2m[gfn]!;
    return v >= 0 ? v : -1;
  }

  isSwapped(gfn: number): boolean {
    return isSwapped(this.p2m[gfn]!);
  }

  /** Swap `gfn` out (DESIGN §6.8); false when it is not resident. */
  swapOut(gfn: number): boolean {
    if (gfn < 0 || gfn >= this.frames) return false;
    const hfn = this.p2m[gfn]!;
    if (hfn < 0) return false;
    this.unmap(gfn);
    const host = this.host;
    this.departed.set(gfn, pageDigest(host.mem.ram, hfn));
    const slot = host.swap.put(host.mem.ram.subarray(hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE));
    this.p2m[gfn] = SWAPPED_BASE - slot;
    host.freeGuestFrame(hfn);
    this.swapOuts++;
    return true;
  }

  /** Move `gfn` to another host frame (DESIGN §6.8 migration); false when not resident. */
  migrate(gfn: number): boolean {
    if (gfn < 0 || gfn >= this.frames) return false;
    const old = this.p2m[gfn]!;
    if (old < 0) return false;
    const host = this.host;
    host.pinned[old] = 1; // the allocation below must not pick the frame being copied
    const hfn = host.allocGuest(this.vmId, gfn);
    host.pinned[old] = 0;
    if (this.p2m[gfn] !== old) {
      // Overcommit took this very gfn? It was pinned, so this cannot happen; say so loudly.
      throw new Error('popek: migration source frame was evicted');
    }
    this.unmap(gfn);
    const ram = host.mem.ram;
    this.departed.set(gfn, pageDigest(ram, old));
    ram.copyWithin(hfn * PAGE_SIZE, old * PAGE_SIZE, (old + 1) * PAGE_SIZE);
    this.arrived(gfn, hfn, 'migration');
    this.p2m[gfn] = hfn;
    host.freeGuestFrame(old);
    this.migrations++;
    return true;
  }

  /** A page came back into frame `hfn`: it must hold what it held when it left. */
  private arrived(gfn: number, hfn: number, how: string): void {
    const want = this.departed.get(gfn);
    this.departed.delete(gfn);
    if (want !== undefined && pageDigest(this.host.mem.ram, hfn) !== want)
      this.contentErrors.push(`p2m: gfn ${gfn} came back from ${how} with other contents than it left with`);
  }

  // ---- guest-physical accesses by the VMM (RAM only; callers route MMIO/open bus) ----

  read8(gpa: number): number {
    const v = this.p2m[gpa >>> 12]!;
    if (v === ABSENT) return 0;
    return this.host.mem.ram[this.ensure(gpa >>> 12) * PAGE_SIZE + (gpa & 0xfff)]!;
  }

  write8(gpa: number, b: number): void {
    this.host.mem.ram[this.ensure(gpa >>> 12) * PAGE_SIZE + (gpa & 0xfff)] = b;
  }

  /** Copy an image chunk into guest RAM; bytes beyond RAM are dropped (open bus). */
  load(gpa: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) if (gpa + i < this.ramBytes) this.write8(gpa + i, bytes[i]!);
  }

  /** An aligned word (walker gpte reads); a never-touched page reads 0 without allocating. */
  read32(gpa: number): number {
    const v = this.p2m[gpa >>> 12]!;
    if (v === ABSENT) return 0;
    return this.host.mem.ram32[(this.ensure(gpa >>> 12) * PAGE_SIZE + (gpa & 0xffc)) >>> 2]!;
  }

  write32(gpa: number, w: number): void {
    this.host.mem.ram32[(this.ensure(gpa >>> 12) * PAGE_SIZE + (gpa & 0xffc)) >>> 2] = w;
  }

  /** An aligned word without side effects: no swap-in, no allocation (audits). */
  peek32(gpa: number): number {
    const v = this.p2m[gpa >>> 12]!;
    if (v === ABSENT) return 0;
    if (isSwapped(v)) {
      const page = this.host.swap.peek(slotOf(v));
      const o = gpa & 0xffc;
      return page[o]! | (page[o + 1]! << 8) | (page[o + 2]! << 16) | (page[o + 3]! << 24);
    }
    return this.host.mem.ram32[(v * PAGE_SIZE + (gpa & 0xffc)) >>> 2]!;
  }

  /** Every byte of guest RAM, assembled from frames, disk and zero pages (DESIGN §2 `ram`). */
  snapshot(into: Uint8Array): Uint8Array {
    const ram = this.host.mem.ram;
    for (let gfn = 0; gfn < this.frames; gfn++) {
      const v = this.p2m[gfn]!;
      const at = gfn * PAGE_SIZE;
      if (v >= 0) into.set(ram.subarray(v * PAGE_SIZE, (v + 1) * PAGE_SIZE), at);
      else if (v === ABSENT) into.fill(0, at, at + PAGE_SIZE);
      else into.set(this.host.swap.peek(slotOf(v)), at);
    }
    return into;
  }
}

/**
 * p2m invariants (p2m.ts): each resident gfn's frame is this VM's and records the gfn, and
 * each frame this VM owns is the one its p2m names for that gfn (no frame leaks).
 */
export function auditP2m({ host, p2m }: { host: HostMemory; p2m: P2m }): string[] {
  const out: string[] = [...p2m.contentErrors];
  // Every gfn whose page left for the disk is on the disk, with the contents it left with.
  for (const [gfn, want] of p2m.departed) {
    if (!p2m.isSwapped(gfn)) out.push(`p2m: gfn ${gfn} left for the swap disk but the p2m does not say it is there`);
    else if (swappedDigest(p2m, gfn) !== want) out.push(`p2m: gfn ${gfn} changed on the swap disk`);
  }
  for (let gfn = 0; gfn < p2m.frames; gfn++) {
    const hfn = p2m.resident(gfn);
    if (hfn < 0) continue;
    if (hfn >= host.guestFrames) out.push(`p2m: gfn ${gfn} maps host frame ${hfn} outside the guest range`);
    else if (host.owner[hfn] !== p2m.vmId || host.ownerGfn[hfn] !== gfn)
      out.push(`p2m: gfn ${gfn} maps host frame ${hfn} owned by ${host.owner[hfn]} for gfn ${host.ownerGfn[hfn]}`);
  }
  for (let hfn = 0; hfn < host.guestFrames; hfn++) {
    if (host.owner[hfn] !== p2m.vmId) continue;
    const gfn = host.ownerGfn[hfn]!;
    if (gfn < 0 || gfn >= p2m.frames || p2m.resident(gfn) !== hfn)
      out.push(`p2m: host frame ${hfn} is owned for gfn ${gfn}, which the p2m does not map there (a leak)`);
  }
  return out;
}

/**
 * FNV-1a over the page's 4096 bytes: taken when a page leaves its frame, compared when it
 * returns (auditP2m). Written here, apart from the code that moves pages, so a copy bug
 * cannot make both sides agree.
 */
export function pageDigest(ram: Uint8Array, hfn: number): number {
  let h = 0x811c9dc5;
  for (let i = hfn * PAGE_SIZE, end = i + PAGE_SIZE; i < end; i++) h = Math.imul(h ^ ram[i]!, 0x01000193);
  return h >>> 0;
}

/** The digest of a swapped-out gfn's page as the disk holds it (no swap-in). */
const swappedDigest = (p2m: P2m, gfn: number): number => pageDigest(p2m.host.swap.peek(slotOf(p2m.p2m[gfn]!)), 0);
