// The host TLB (DESIGN §4: "a TLB that really caches translations, so a missing flush is
// a real, catchable bug"), after v86 (STYLE §5): one Int32Array entry per virtual page
// number, holding the host frame in the high 20 bits and permission flags in the low 12,
// so a hit is one AND and one compare against a mask precomputed per cpl.
//
// Entry layout (0 = invalid):
//   bits 12–31  hfn (always a RAM frame: translations to MMIO or open bus are never
//               cached, so a hit can index RAM without asking about the device)
//   TLB_V       valid
//   TLB_U       user may read          (PDE.US ∧ PTE.US; DESIGN §3.5.4)
//   TLB_WU      user may write         (U ∧ PDE.RW ∧ PTE.RW)
//   TLB_WS      supervisor may write   (RW ∨ ¬CR0.WP — so a WP change must flush)
//   TLB_D       the leaf entry's D bit was set when cached: a write hit without it must
//               re-walk so the walker sets D (DESIGN §3.5.5)
//
// Invariants:
// - every valid entry equals what a walk would compute right now from memory, minus TLB_D
//   where D may have become set since (never the other way round). Kept by flushing on
//   CR3 writes, on CR0.PG/WP and CR4.PSE changes, and on any store to a frame marked as a
//   page-structure frame (see `isTable` below);
// - `isTable[hfn]` is 1 for every RAM frame that a cached entry's walk read (the page
//   directory and, for 4 KiB pages, the page table). Flushing clears all marks.
//
// Flushing a 1M-entry array costs ~0.3 ms, and a guest editing a live page table flushes
// at every such store, so filled slots are remembered in a list and a flush clears only
// those (falling back to a full clear when the list overflowed).

import { FRAME_MASK } from './arch.ts';

export const TLB_V = 1;
export const TLB_U = 2;
export const TLB_WU = 4;
export const TLB_WS = 8;
export const TLB_D = 16;
export const TLB_FRAME = FRAME_MASK;

/** What a hit must have, per kind of access (cpu.ts keeps the current-cpl pair). */
export const MASK_READ_SUP = TLB_V;
export const MASK_READ_USER = TLB_V | TLB_U;
export const MASK_WRITE_SUP = TLB_V | TLB_WS | TLB_D;
export const MASK_WRITE_USER = TLB_V | TLB_WU | TLB_D;

const VPNS = 1 << 20;
const FILLED_CAP = 8192;
const MARKED_CAP = 1024;

/**
 * The 5 MiB of `entries` and `logged`, all zero, handed back by released TLBs for the
 * next one on this thread: allocating and zeroing them was most of the cost of building
 * a machine per lockstep run (issue 15, measured with `node --cpu-prof`).
 */
const spares: { entries: Int32Array; logged: Uint8Array }[] = [];
const MAX_SPARES = 4;
const NO_ENTRIES = new Int32Array(0);
const NO_LOG = new Uint8Array(0);

export class Tlb {
  /** Indexed by gva >>> 12. Read directly by the CPU's fast paths (empty once released). */
  entries: Int32Array;
  /** Per RAM frame: 1 if a cached translation was walked through it (see invariants). */
  readonly isTable: Uint8Array;

  private readonly filled = new Int32Array(FILLED_CAP);
  /** 1 for the vpns in `filled` (or lost to its overflow) since the last flush. */
  private logged: Uint8Array;
  private filledCount = 0;
  private filledOverflow = false;
  private readonly marked = new Int32Array(MARKED_CAP);
  private markedCount = 0;
  private markedOverflow = false;

  /** Counters (not guest-visible). */
  fills = 0;
  flushes = 0;
  invalidations = 0;

  constructor(frames: number) {
    this.isTable = new Uint8Array(frames);
    const spare = spares.pop();
    this.entries = spare?.entries ?? new Int32Array(VPNS);
    this.logged = spare?.logged ?? new Uint8Array(VPNS);
  }

  /**
   * The machine is done with: clear the arrays and hand them to the next TLB. From then
   * on this TLB caches nothing (a fill writes past the end of an empty array, which is a
   * no-op), so every access walks — still correct, only slow; its owner must swap in the
   * new, empty `entries` (Cpu.release does).
   */
  release(): void {
    if (this.entries === NO_ENTRIES) return;
    this.clear();
    if (spares.length < MAX_SPARES) spares.push({ entries: this.entries, logged: this.logged });
    this.entries = NO_ENTRIES;
    this.logged = NO_LOG;
  }

  fill(vpn: number, entry: number): void {
    // Log each vpn once per flush (an invalidated entry filled again is already logged).
    if (this.logged[vpn] === 0) {
      this.logged[vpn] = 1;
      if (this.filledCount < FILLED_CAP) this.filled[this.filledCount++] = vpn;
      else this.filledOverflow = true;
    }
    this.entries[vpn] = entry;
    this.fills++;
  }

  /** Record that `hfn` holds a page-structure entry a cached translation depends on. */
  markTable(hfn: number): void {
    if (this.isTable[hfn] !== 0) return;
    this.isTable[hfn] = 1;
    if (this.markedCount < MARKED_CAP) this.marked[this.markedCount++] = hfn;
    else this.markedOverflow = true;
  }

  /** `invlpg`: drop one page's entry. */
  invalidate(vpn: number): void {
    this.entries[vpn] = 0;
    this.invalidations++;
  }

  flush(): void {
    this.clear();
    this.flushes++;
  }

  private clear(): void {
    if (this.filledOverflow) {
      this.entries.fill(0);
      this.logged.fill(0);
    } else {
      for (let i = 0; i < this.filledCount; i++) {
        this.entries[this.filled[i]!] = 0;
        this.logged[this.filled[i]!] = 0;
      }
    }
    this.filledCount = 0;
    this.filledOverflow = false;
    if (this.markedOverflow) this.isTable.fill(0);
    else for (let i = 0; i < this.markedCount; i++) this.isTable[this.marked[i]!] = 0;
    this.markedCount = 0;
    this.markedOverflow = false;
  }

  /**
   * Visit every valid entry, in fill order, until `visit` returns true. Only the vpns
   * filled since the last flush can be valid (every write goes through `fill`), so an
   * audit after each exit reads a few entries, not all 2^20 — unless the fill log
   * overflowed, when it scans the array as `flush` clears it.
   */
  forEachValid(visit: (vpn: number, entry: number) => boolean | void): void {
    const entries = this.entries;
    const n = this.filledOverflow ? VPNS : this.filledCount;
    for (let i = 0; i < n; i++) {
      const vpn = this.filledOverflow ? i : this.filled[i]!;
      const t = entries[vpn]!;
      if (t !== 0 && visit(vpn, t) === true) return;
    }
  }

  /** Number of valid entries (for tests and audits). */
  validCount(): number {
    let n = 0;
    this.forEachValid(() => {
      n++;
    });
    return n;
  }
}
