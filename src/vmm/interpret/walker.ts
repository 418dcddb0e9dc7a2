// The interpreter's software MMU: one guest page walker (DESIGN §3.5) that turns a linear
// address into a guest physical one, or into a #PF. After KVM's paging_tmpl.h (STYLE §4):
// one pass records every level it read (`entryGpa[]`, `entries[]`) and there is a single
// error exit, `pageFault`, that builds the error code and writes CR2.
//
// There is no TLB on purpose: VX32's semantics have none (§3.6), and an interpreter can
// afford to walk on every access — the cost is what `walks`/`walkRefs` measure.

import { match } from 'ts-pattern';
import { CR0_PG, CR0_WP, CR4_PSE, type ControlBlock, FAULT, VEC_PF, fault } from './control-block.ts';
import type { GuestMemory } from './guest-memory.ts';

/** Access kinds. Numbers, not strings: this runs on every guest memory reference. */
export const READ = 0;
export const WRITE = 1;
/** Instruction fetch: checked as a read (§3.5.4), no error-code bit of its own in VX32. */
export const FETCH = 2;
export type Access = typeof READ | typeof WRITE | typeof FETCH;

/** gpte bits (§3.5). */
const GPTE_P = 0x1;
const GPTE_RW = 0x2;
const GPTE_US = 0x4;
const GPTE_A = 0x20;
const GPTE_D = 0x40;
const GPTE_PS = 0x80;
/** Bits 13–21 of a 4 MiB PDE are reserved (§3.5.2, the original Pentium's layout). */
const PDE_4M_RSVD = 0x003fe000;
const FRAME_4K = 0xfffff000;
const FRAME_4M = 0xffc00000;

/** #PF error-code bits (§3.5.6). */
export const PFEC_P = 0x1;
export const PFEC_W = 0x2;
export const PFEC_U = 0x4;
export const PFEC_RSVD = 0x8;

export type PfReason = 'not-present' | 'protection' | 'reserved';

/**
 * The #PF error code (§3.5.6, §3.10.1): P says the walk found a present entry (so a
 * reserved-bit fault has P = 1), W the access was a write, U it was a user access.
 */
export function pfErrorCode(reason: PfReason, write: boolean, user: boolean): number {
  const base = match(reason)
    .returnType<number>()
    .with('not-present', () => 0)
    .with('protection', () => PFEC_P)
    .with('reserved', () => PFEC_P | PFEC_RSVD)
    .exhaustive();
  return base | (write ? PFEC_W : 0) | (user ? PFEC_U : 0);
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

  /** gva → gpa for one access of kind `access`; FAULT with a #PF recorded in the control block. */
  translate(gva: number, access: Access, user: boolean): number {
    const cb = this.cb;
    if ((cb.cr0 & CR0_PG) === 0) return gva; // §3.5: with paging off, linear = physical
    this.walks++;
    const write = access === WRITE;

    const pdeGpa = ((cb.cr3 & FRAME_4K) + ((gva >>> 22) << 2)) >>> 0;
    const pde = this.readEntry(0, pdeGpa);
    this.levels = 1;
    if ((pde & GPTE_P) === 0) return this.pageFault(gva, 'not-present', write, user);

    if ((cb.cr4 & CR4_PSE) !== 0 && (pde & GPTE_PS) !== 0) {
      // §3.5.2: a 4 MiB page; its permissions come from the PDE alone.
      if ((pde & PDE_4M_RSVD) !== 0) return this.pageFault(gva, 'reserved', write, user);
      if (!this.permits(pde, write, user)) return this.pageFault(gva, 'protection', write, user);
      this.setAccessedDirty(pdeGpa, write);
      return ((pde & FRAME_4M) | (gva & 0x3fffff)) >>> 0;
    }

    const pteGpa = ((pde & FRAME_4K) + (((gva >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = this.readEntry(1, pteGpa);
    this.levels = 2;
    if ((pte & GPTE_P) === 0) return this.pageFault(gva, 'not-present', write, user);
    // §3.5.4: user-accessible and writable are the AND of both levels.
    if (!this.permits(pde & pte, write, user)) return this.pageFault(gva, 'protection', write, user);
    // §3.5.5: PDE.A first, then PTE.A (and D for writes), each a fresh read-modify-write.
    this.setAccessedDirty(pdeGpa, false);
    this.setAccessedDirty(pteGpa, write);
    return ((pte & FRAME_4K) | (gva & 0xfff)) >>> 0;
  }

  private readEntry(level: number, gpa: number): number {
    this.walkRefs++;
    const gpte = this.mem.walkRead32(gpa);
    this.entryGpa[level] = gpa;
    this.entries[level] = gpte;
    return gpte;
  }

  /** §3.5.4: a user access needs US; a write needs RW when it is a user write or CR0.WP is set. */
  private permits(flags: number, write: boolean, user: boolean): boolean {
    if (user && (flags & GPTE_US) === 0) return false;
    if (write && (flags & GPTE_RW) === 0 && (user || (this.cb.cr0 & CR0_WP) !== 0)) return false;
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
    const bits = dirty ? GPTE_A | GPTE_D : GPTE_A;
    const cur = this.mem.walkRead32(gpa);
    if ((cur & bits) === bits) return;
    this.walkRefs++;
    this.mem.walkWrite32(gpa, (cur | bits) >>> 0);
  }

  /** The single error exit: CR2 is written when the #PF is detected (§3.10.2). */
  private pageFault(gva: number, reason: PfReason, write: boolean, user: boolean): number {
    const cb = this.cb;
    cb.cr2 = gva;
    fault(cb, VEC_PF, pfErrorCode(reason, write, user));
    cb.faultCr2 = gva;
    return FAULT;
  }
}
