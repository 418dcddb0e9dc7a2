// The interpreter's software MMU: one guest page walker (DESIGN §3.5) that turns a linear
// address into a guest physical one, or into a #PF. After KVM's paging_tmpl.h (STYLE §4):
// one pass records every level it read (`entryGpa[]`, `entries[]`) and there is a single
// error exit, `pageFault`, that builds the error code and writes CR2.
//
// There is no TLB on purpose: VX32's semantics have none (§3.6), and an interpreter can
// afford to walk on every access — the cost is what `walks`/`walkRefs` measure.

import { match } from 'ts-pattern';
import {
  ACC_PFEC_MASK,
  ACC_USER,
  ACC_WRITE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  FRAME_MASK,
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
  VEC_PF,
} from '../../hw/arch.ts';
import { type ControlBlock, FAULT, fault } from './control-block.ts';
import type { GuestMemory } from './guest-memory.ts';

export type PfReason = 'not-present' | 'protection' | 'reserved';

/**
 * The #PF error code (§3.5.6, §3.10.1): P says the walk found a present entry (so a
 * reserved-bit fault has P = 1); W and U are the access word's own bits (src/hw/arch.ts:
 * a write, a user access), and a fetch leaves no trace of its own.
 */
export function pfErrorCode(reason: PfReason, access: number): number {
  const base = match(reason)
    .returnType<number>()
    .with('not-present', () => 0)
    .with('protection', () => PFEC_P)
    .with('reserved', () => PFEC_P | PFEC_RSVD)
    .exhaustive();
  return base | (access & ACC_PFEC_MASK);
}

export interface WalkerOptions {
  /** Catalog bug `interpret-no-ad`: successful walks leave guest A/D bits alone (§8). */
  noAccessedDirty: boolean;
}

export class GuestWalker {
  /** The walk record of the last walk: level 0 is the PDE, level 1 the PTE. */
  readonly entryGpa = new Float64Array(2);
  readonly entries = new Float64Array(2);
  /** How many levels the last walk read (1 for a 4 MiB page or a missing PDE). */
  levels = 0;

  walks = 0;
  walkRefs = 0;

  constructor(
    private readonly cb: ControlBlock,
    private readonly mem: GuestMemory,
    private readonly opts: WalkerOptions,
  ) {}

  /**
   * gva → gpa for one access (`access`: ACC_WRITE | ACC_USER | ACC_FETCH of
   * src/hw/arch.ts; a fetch is checked as a read, §3.5.4); FAULT with a #PF recorded in
   * the control block.
   */
  translate(gva: number, access: number): number {
    const cb = this.cb;
    if ((cb.cr0 & CR0_PG) === 0) return gva; // §3.5: with paging off, linear = physical
    this.walks++;

    const pdeGpa = ((cb.cr3 & FRAME_MASK) + ((gva >>> 22) << 2)) >>> 0;
    const pde = this.readEntry(0, pdeGpa);
    this.levels = 1;
    if ((pde & PTE_P) === 0) return this.pageFault(gva, 'not-present', access);

    if ((cb.cr4 & CR4_PSE) !== 0 && (pde & PDE_PS) !== 0) {
      // §3.5.2: a 4 MiB page; its permissions come from the PDE alone.
      if ((pde & PDE_4M_RSVD) !== 0) return this.pageFault(gva, 'reserved', access);
      if (!this.permits(pde, access)) return this.pageFault(gva, 'protection', access);
      this.setAccessedDirty(pdeGpa, (access & ACC_WRITE) !== 0);
      return ((pde & PDE_4M_FRAME_MASK) | (gva & 0x3fffff)) >>> 0;
    }

    const pteGpa = ((pde & FRAME_MASK) + (((gva >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = this.readEntry(1, pteGpa);
    this.levels = 2;
    if ((pte & PTE_P) === 0) return this.pageFault(gva, 'not-present', access);
    // §3.5.4: user-accessible and writable are the AND of both levels.
    if (!this.permits(pde & pte, access)) return this.pageFault(gva, 'protection', access);
    // §3.5.5: PDE.A first, then PTE.A (and D for writes), each a fresh read-modify-write.
    this.setAccessedDirty(pdeGpa, false);
    this.setAccessedDirty(pteGpa, (access & ACC_WRITE) !== 0);
    return ((pte & FRAME_MASK) | (gva & 0xfff)) >>> 0;
  }

  private readEntry(level: number, gpa: number): number {
    this.walkRefs++;
    const gpte = this.mem.walkRead32(gpa);
    this.entryGpa[level] = gpa;
    this.entries[level] = gpte;
    return gpte;
  }

  /** §3.5.4: a user access needs US; a write needs RW when it is a user write or CR0.WP is set. */
  private permits(flags: number, access: number): boolean {
    const user = (access & ACC_USER) !== 0;
    if (user && (flags & PTE_US) === 0) return false;
    if ((access & ACC_WRITE) !== 0 && (flags & PTE_RW) === 0 && (user || (this.cb.cr0 & CR0_WP) !== 0)) return false;
    return true;
  }

  /**
   * §3.5.5: on success only; a read-modify-write of the word as it is in memory now (it
   * may have changed since the walk read it: the PDE's A update can hit a PTE that is the
   * same word, under a recursive mapping). Counted as one reference when it writes — the
   * locked update hardware would do — and none when the bits were already set.
   */
  private setAccessedDirty(gpa: number, dirty: boolean): void {
    if (this.opts.noAccessedDirty) return;
    const bits = dirty ? PTE_A | PTE_D : PTE_A;
    const cur = this.mem.walkRead32(gpa);
    if ((cur & bits) === bits) return;
    this.walkRefs++;
    this.mem.walkWrite32(gpa, (cur | bits) >>> 0);
  }

  /** The single error exit: CR2 is written when the #PF is detected (§3.10.2). */
  private pageFault(gva: number, reason: PfReason, access: number): number {
    const cb = this.cb;
    cb.cr2 = gva;
    fault(cb, VEC_PF, pfErrorCode(reason, access));
    cb.faultCr2 = gva;
    return FAULT;
  }
}
