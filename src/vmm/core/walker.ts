// The VMM's one software guest walker (DESIGN §6.3, STYLE §4 after KVM paging_tmpl.h):
// walks the guest's own page tables through the p2m exactly as DESIGN §3.5 says and
// leaves a per-level walk record. Every translation the VMMs of src/vmm make goes
// through it: shadow fill (from its WalkRecord), the emulator, both VMX vCPUs and the
// trap-and-emulate monitor. Two readers of gptes stay apart on purpose:
// - the shadow audit (shadow/audit.ts) reads each gpte beside the spte derived from it,
//   independent of this walker as Xen's sh_audit is of the shadow code: a walker bug
//   must not vouch for its own results;
// - `ShadowMmu.allParentsDirty` reads the D bits of the other gpdes that link a split
//   4 MiB page, which no walk of the faulting gva visits.
// The interpret engine has its own walker, a deliberately independent third reading of
// DESIGN §3.5 (interpret/README.md).
//
// Levels are indexed as in the record: 0 = the PDE (from guest CR3), 1 = the PTE. A
// 4 MiB page (CR4.PSE ∧ PDE.PS) stops at level 0. A table outside guest RAM reads as
// open bus (0xFFFFFFFF: DESIGN §3.2, walks never touch the device) and its A/D writes
// are dropped. A swapped-out table page is swapped back in by the read (DESIGN §6.8).

import { match } from 'ts-pattern';
import {
  ACC_PFEC_MASK,
  ACC_USER,
  ACC_WRITE,
  FRAME_MASK,
  PAGE_SHIFT,
  PDE_4M_FRAME_MASK,
  PDE_4M_RSVD,
  PDE_PS,
  PFEC_P,
  PFEC_RSVD,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_RW,
  PTE_US,
} from '../../hw/arch.ts';
import type { P2m } from './p2m.ts';
import type { VmmBugs } from './bugs.ts';

/** The guest frame a 4 KiB gpte (or a gpde pointing at a table) names. */
export const gpteToGfn = (gpte: number): number => gpte >>> PAGE_SHIFT;
/** The first guest frame of the 4 MiB page a PS gpde names (bits 13–21 are reserved, 12 ignored). */
export const largeGpdeToGfn = (gpde: number): number => (gpde & PDE_4M_FRAME_MASK) >>> PAGE_SHIFT;

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
  /** Number of gptes read: 0 with paging off, 1 for a 4 MiB page or a gpde fault, else 2. */
  levels = 0;
  readonly gpteGpa = new Int32Array(2);
  readonly gpte = new Int32Array(2);
  /** A 4 MiB page: the leaf is the gpde. */
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
   * Translate `gva` for one access (`access`: ACC_WRITE | ACC_USER | ACC_FETCH of
   * src/hw/arch.ts; a fetch is checked as a read, DESIGN §3.5.4) as DESIGN §3.5 says.
   * With `setAd` the walk has the architectural side effects (A, then D for writes, on
   * success only: §3.5.5); without it, it only looks.
   */
  walk(g: GuestPaging, gva: number, access: number, setAd: boolean): WalkRecord {
    this.walks++;
    const r = this.rec;
    r.ok = false;
    r.large = false;
    r.levels = 0;
    if (!g.pg) {
      r.ok = true;
      r.gpa = gva >>> 0;
      r.access = PTE_US | PTE_RW;
      r.dirty = true;
      return r;
    }
    const gpdeGpa = ((g.cr3 & FRAME_MASK) + ((gva >>> 22) << 2)) >>> 0;
    const gpde = this.readGpte(gpdeGpa);
    r.levels = 1;
    r.gpteGpa[0] = gpdeGpa;
    r.gpte[0] = gpde;
    if ((gpde & PTE_P) === 0) return this.fail(r, 'not-present', access);
    if (g.pse && (gpde & PDE_PS) !== 0) {
      if ((gpde & PDE_4M_RSVD) !== 0) return this.fail(r, 'reserved', access);
      r.large = true;
      r.access = this.bugs.usNotEnforced ? (gpde & PTE_RW) | PTE_US : gpde & (PTE_US | PTE_RW);
      if (!this.allowed(g, r.access, access)) return this.fail(r, 'protection', access);
      if (setAd) this.setBits(gpdeGpa, this.adBits(access));
      r.gpte[0] = this.readGpte(gpdeGpa);
      r.dirty = (r.gpte[0] & PTE_D) !== 0;
      r.gpa = ((gpde & PDE_4M_FRAME_MASK) | (gva & 0x3fffff)) >>> 0;
      r.ok = true;
      return r;
    }
    const gpteGpa = ((gpde & FRAME_MASK) + (((gva >>> 12) & 0x3ff) << 2)) >>> 0;
    const gpte = this.readGpte(gpteGpa);
    r.levels = 2;
    r.gpteGpa[1] = gpteGpa;
    r.gpte[1] = gpte;
    if ((gpte & PTE_P) === 0) return this.fail(r, 'not-present', access);
    // DESIGN §3.5.4: US and RW compose by AND (the bug keeps only the PTE's).
    const gpdeAccess = this.bugs.pdePermsIgnored ? PTE_US | PTE_RW : gpde;
    r.access = gpdeAccess & gpte & (PTE_US | PTE_RW);
    if (this.bugs.usNotEnforced) r.access |= PTE_US;
    if (!this.allowed(g, r.access, access)) return this.fail(r, 'protection', access);
    if (setAd) {
      // DESIGN §3.5.5: PDE.A, then PTE.A (+D), each a read-modify-write of memory as it is now.
      this.setBits(gpdeGpa, PTE_A);
      this.setBits(gpteGpa, this.adBits(access));
    }
    r.gpte[0] = this.readGpte(gpdeGpa);
    r.gpte[1] = this.readGpte(gpteGpa);
    r.dirty = (r.gpte[1] & PTE_D) !== 0;
    r.gpa = ((gpte & FRAME_MASK) | (gva & 0xfff)) >>> 0;
    r.ok = true;
    return r;
  }

  /** The bits a successful access sets (the catalog bugs get them wrong: DESIGN §8). */
  private adBits(access: number): number {
    if (this.bugs.adNotSet) return 0;
    if (this.bugs.dirtyOnRead) return PTE_A | PTE_D;
    return (access & ACC_WRITE) !== 0 ? PTE_A | PTE_D : PTE_A;
  }

  /** DESIGN §3.5.4: user needs US; a write needs RW unless a supervisor write with WP clear. */
  private allowed(g: GuestPaging, perms: number, access: number): boolean {
    const user = (access & ACC_USER) !== 0;
    if (user && (perms & PTE_US) === 0) return false;
    const wp = g.wp && !this.bugs.cr0WpIgnored;
    if ((access & ACC_WRITE) !== 0 && (perms & PTE_RW) === 0 && (user || wp)) return false;
    return true;
  }

  private setBits(gpa: number, bits: number): void {
    if (bits === 0 || gpa >= this.p2m.ramBytes) return; // outside RAM: dropped (§3.2)
    const w = this.p2m.read32(gpa);
    if ((w & bits) !== bits) this.p2m.write32(gpa, w | bits);
  }

  /**
   * The single error exit (STYLE §4): compose the #PF error code, DESIGN §3.5.6, §3.10.1.
   * W and U are the access word's own bits (src/hw/arch.ts); fetch leaves no trace.
   */
  private fail(r: WalkRecord, why: WalkFault, access: number): WalkRecord {
    const base = access & ACC_PFEC_MASK;
    r.err = match(why)
      .with('not-present', () => base)
      .with('protection', () => base | PFEC_P)
      .with('reserved', () => base | PFEC_P | PFEC_RSVD)
      .exhaustive();
    r.ok = false;
    return r;
  }
}
