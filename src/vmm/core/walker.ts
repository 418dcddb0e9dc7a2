// The VMM's one software guest walker (DESIGN §6.3, STYLE §4 after KVM paging_tmpl.h):
// walks the guest's own page tables through the p2m exactly as DESIGN §3.5 says and
// leaves a per-level walk record. Shadow fill, instruction emulation and the audit all
// use it; nothing else in src/vmm reads a gpte.
//
// Levels are indexed as in the record: 0 = the PDE (from guest CR3), 1 = the PTE. A
// 4 MiB page (CR4.PSE ∧ PDE.PS) stops at level 0. A table outside guest RAM reads as
// open bus (0xFFFFFFFF: DESIGN §3.2, walks never touch the device) and its A/D writes
// are dropped. A swapped-out table page is swapped back in by the read (DESIGN §6.8).

import { match } from 'ts-pattern';
import {
  PDE4M_RSVD,
  PF_P,
  PF_RSVD,
  PF_U,
  PF_W,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  FRAME_MASK,
} from './bits.ts';
import type { P2m } from './p2m.ts';
import type { VmmBugs } from './bugs.ts';

/** The guest's paging controls as the guest set them (not the host's: DESIGN §6.7). */
export interface GuestPaging {
  pg: boolean;
  wp: boolean;
  pse: boolean;
  /** Guest CR3 (page-directory gpa). */
  cr3: number;
}

/** What one walk found, level by level (reused: one per walker, no allocation per walk). */
export class WalkRecord {
  ok = false;
  /** The translated gpa (ok only). */
  gpa = 0;
  /** #PF error code (not ok only), DESIGN §3.5.6. */
  err = 0;
  /** Number of gptes read: 0 with paging off, 1 for a 4 MiB page or a PDE fault, else 2. */
  levels = 0;
  readonly gpteGpa = new Int32Array(2);
  readonly gpte = new Int32Array(2);
  /** A 4 MiB page: the leaf is the PDE. */
  large = false;
  /** Composed permissions, PTE_US | PTE_RW bits (DESIGN §3.5.4: AND across levels). */
  access = 0;
  /** The leaf's D bit after the walk. */
  dirty = false;
}

type WalkFault = 'not-present' | 'reserved' | 'protection';

export class GuestWalker {
  readonly rec = new WalkRecord();
  /** Counters (not guest-visible). */
  walks = 0;
  gpteReads = 0;

  constructor(
    private readonly p2m: P2m,
    private readonly bugs: VmmBugs,
  ) {}

  /** A gpte read: RAM through the p2m, else open bus. */
  readGpte(gpa: number): number {
    this.gpteReads++;
    return gpa < this.p2m.ramBytes ? this.p2m.read32(gpa) : -1;
  }

  /**
   * Translate `la` for one access as DESIGN §3.5 says. With `setAD` the walk has the
   * architectural side effects (A, then D for writes, on success only: §3.5.5); without
   * it, it only looks (audits, the explain page).
   */
  walk(g: GuestPaging, la: number, write: boolean, user: boolean, setAD: boolean): WalkRecord {
    this.walks++;
    const r = this.rec;
    r.ok = false;
    r.large = false;
    r.levels = 0;
    if (!g.pg) {
      r.ok = true;
      r.gpa = la >>> 0;
      r.access = PTE_US | PTE_RW;
      r.dirty = true;
      return r;
    }
    const pdeGpa = ((g.cr3 & FRAME_MASK) + ((la >>> 22) << 2)) >>> 0;
    const pde = this.readGpte(pdeGpa);
    r.levels = 1;
    r.gpteGpa[0] = pdeGpa;
    r.gpte[0] = pde;
    if ((pde & PTE_P) === 0) return this.fail(r, 'not-present', write, user);
    if (g.pse && (pde & PTE_PS) !== 0) {
      if ((pde & PDE4M_RSVD) !== 0) return this.fail(r, 'reserved', write, user);
      r.large = true;
      r.access = this.bugs.usNotEnforced ? pde & PTE_RW | PTE_US : pde & (PTE_US | PTE_RW);
      if (!this.allowed(g, r.access, write, user)) return this.fail(r, 'protection', write, user);
      if (setAD) this.setBits(pdeGpa, this.adBits(write));
      r.gpte[0] = this.readGpte(pdeGpa);
      r.dirty = (r.gpte[0]! & PTE_D) !== 0;
      r.gpa = ((pde & 0xffc00000) | (la & 0x3fffff)) >>> 0;
      r.ok = true;
      return r;
    }
    const pteGpa = ((pde & FRAME_MASK) + (((la >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = this.readGpte(pteGpa);
    r.levels = 2;
    r.gpteGpa[1] = pteGpa;
    r.gpte[1] = pte;
    if ((pte & PTE_P) === 0) return this.fail(r, 'not-present', write, user);
    // DESIGN §3.5.4: US and RW compose by AND (the bug keeps only the PTE's).
    const pdeAccess = this.bugs.pdePermsIgnored ? PTE_US | PTE_RW : pde;
    r.access = pdeAccess & pte & (PTE_US | PTE_RW);
    if (this.bugs.usNotEnforced) r.access |= PTE_US;
    if (!this.allowed(g, r.access, write, user)) return this.fail(r, 'protection', write, user);
    if (setAD) {
      // DESIGN §3.5.5: PDE.A, then PTE.A (+D), each a read-modify-write of memory as it is now.
      this.setBits(pdeGpa, PTE_A);
      this.setBits(pteGpa, this.adBits(write));
    }
    r.gpte[0] = this.readGpte(pdeGpa);
    r.gpte[1] = this.readGpte(pteGpa);
    r.dirty = (r.gpte[1]! & PTE_D) !== 0;
    r.gpa = ((pte & FRAME_MASK) | (la & 0xfff)) >>> 0;
    r.ok = true;
    return r;
  }

  /** The bits a successful access sets (the catalog bugs get them wrong: DESIGN §8). */
  private adBits(write: boolean): number {
    if (this.bugs.adNotSet) return 0;
    if (this.bugs.dirtyOnRead) return PTE_A | PTE_D;
    return write ? PTE_A | PTE_D : PTE_A;
  }

  /** DESIGN §3.5.4: user needs US; a write needs RW unless a supervisor write with WP clear. */
  private allowed(g: GuestPaging, access: number, write: boolean, user: boolean): boolean {
    if (user && (access & PTE_US) === 0) return false;
    const wp = g.wp && !this.bugs.cr0WpIgnored;
    if (write && (access & PTE_RW) === 0 && (user || wp)) return false;
    return true;
  }

  private setBits(gpa: number, bits: number): void {
    if (bits === 0 || gpa >= this.p2m.ramBytes) return; // outside RAM: dropped (§3.2)
    const w = this.p2m.read32(gpa);
    if ((w & bits) !== bits) this.p2m.write32(gpa, w | bits);
  }

  /** The single error exit (STYLE §4): compose the #PF error code, DESIGN §3.5.6, §3.10.1. */
  private fail(r: WalkRecord, why: WalkFault, write: boolean, user: boolean): WalkRecord {
    const base = (write ? PF_W : 0) | (user ? PF_U : 0);
    r.err = match(why)
      .with('not-present', () => base)
      .with('protection', () => base | PF_P)
      .with('reserved', () => base | PF_P | PF_RSVD)
      .exhaustive();
    r.ok = false;
    return r;
  }
}
