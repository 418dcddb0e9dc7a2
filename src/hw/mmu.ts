// The MMU's page walker (DESIGN §3.5): 2-level non-PAE paging with optional 4 MiB pages,
// permission checks, A/D updates and #PF error codes, filling the TLB (tlb.ts) on success.
// The CPU asks the TLB first and calls `walk` only on a miss, so everything here is the
// slow path and may be plain.
//
// One walk serves every mode, after KVM's paging_tmpl.h: each guest-physical address it
// touches — the PDE, the PTE and the final address; with paging off the gva itself —
// goes through a gpa→hpa stage (KVM's translate_gpa): `identity` without EPT, `eptStage`
// in VMX-lite non-root mode with EPT (DESIGN §4). With EPT that is a 2-D walk of up to
// (n+1)(m+1)−1 = 8 references for n = m = 2 (SDM vol. 3C 28.3.2), counted in `walkRefs`;
// the TLB caches the combined gva→hpa translation.
// `probe` is the same walk with every side effect left out (STYLE §5).
//
// A walk returns one integer and records nothing elsewhere: the hpa (≥ 0), or ~cause
// (< 0, a small integer: cause < 2^30), where cause is
//   a guest #PF:      the error code, PFEC_* (bits 0–3);
//   an EPT failure:   XF_EPT | the access that failed (EPT_R/W/X, bits 0–2) | the
//                     permissions found (bits 3–5) | EPT_FAIL_MISCONFIG (bit 6) | the
//                     stage (XF_EPT_PTE bit 7, XF_EPT_FINAL bit 8, neither: the PDE) |
//                     the guest frame of the failing gpa (bits 10–29).
// Bits 0–5 and 8 are the ept-violation qualification's own (exits.ts). The gpa's offset
// in its frame follows from the gva and the stage, exactly as the walk computed it
// (`eptFailGpa`), so the failure fits in one int and a walk allocates nothing.

import * as arch from './arch.ts';
import { HwBugs } from './bugs.ts';
import * as eptBits from './ept.ts';
import type { Ept } from './ept.ts';
import { EPT_QUAL_FINAL } from './exits.ts';
import type { PhysMem } from './memory.ts';
import * as tlbBits from './tlb.ts';
import type { Tlb } from './tlb.ts';

// Bound once to the values of arch.ts, ept.ts and tlb.ts: V8 reads a module-local const
// more cheaply than an imported binding, and the walk runs at every TLB miss (cpu.ts).
const {
  ACC_FETCH,
  ACC_PFEC_MASK,
  ACC_USER,
  ACC_WRITE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  FRAME_MASK,
  PAGE_OFFSET_MASK,
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
} = arch;
const { EPT_FAIL_PERM_SHIFT, EPT_R, EPT_RWX, EPT_W, EPT_X } = eptBits;
const { TLB_D, TLB_U, TLB_V, TLB_WS, TLB_WU } = tlbBits;

/** In a failed walk's cause: an EPT failure, not a guest #PF. */
export const XF_EPT = 1 << 9;
/** In an EPT failure's cause: the final gpa failed (not a paging-structure access). */
export const XF_EPT_FINAL = EPT_QUAL_FINAL;
/** In an EPT failure's cause: the PTE's gpa failed (with neither stage bit: the PDE's). */
export const XF_EPT_PTE = 1 << 7;
/** The cause bits that are the ept-violation qualification (exits.ts): access, permissions, final. */
export const XF_EPT_QUAL = 0x3f | XF_EPT_FINAL;
const XF_GFN_SHIFT = 10;

/** Byte offset of the PDE for `gva` in its page directory. */
const pdeOffset = (gva: number): number => (gva >>> 22) << 2;
/** Byte offset of the PTE for `gva` in its page table. */
const pteOffset = (gva: number): number => ((gva >>> 12) & 0x3ff) << 2;

/** The gpa an EPT failure's cause names, for the walk of `gva` that failed. */
export function eptFailGpa(cause: number, gva: number): number {
  const offset = (cause & XF_EPT_FINAL) !== 0 ? gva & PAGE_OFFSET_MASK : (cause & XF_EPT_PTE) !== 0 ? pteOffset(gva) : pdeOffset(gva);
  return (((cause >>> XF_GFN_SHIFT) << PAGE_SHIFT) | offset) >>> 0;
}

/** ~cause of an EPT failure: `found` is the EPT's own cause bits (ept.ts EPT_FAIL_*). */
function eptFail(found: number, access: number, stage: number, gpa: number): number {
  return ~(XF_EPT | found | access | stage | ((gpa >>> PAGE_SHIFT) << XF_GFN_SHIFT));
}

/**
 * The gpa→hpa stage without EPT (KVM's translate_gpa for a non-nested MMU): the identity,
 * with every permission. Written at each stage as `ept === null ? identity(gpa) :
 * this.eptStage(…)` so the native walk makes no call for it.
 */
const identity = (gpa: number): number => ((gpa & FRAME_MASK) | EPT_RWX) >>> 0;

/** The hpa of `gpa` given its stage result (`hfn << 12 | perms`). */
const hpaOf = (leaf: number, gpa: number): number => ((leaf & FRAME_MASK) | (gpa & PAGE_OFFSET_MASK)) >>> 0;

export class Mmu {
  // The paging controls, copied from the CPU's control registers by `setControl`.
  pg = false;
  wp = false;
  pse = false;
  /** cr3 as an unsigned page-directory base. */
  pdBase = 0;

  /** The second translation of non-root mode with EPT; null otherwise (vmx.ts sets it). */
  ept: Ept | null = null;

  /** Counters (not guest-visible): walks that read memory, and their references. */
  walks = 0;
  walkRefs = 0;

  constructor(
    private readonly mem: PhysMem,
    readonly tlb: Tlb,
    private readonly bugs: HwBugs = new HwBugs(),
  ) {}

  /**
   * Take new control-register values; flush when anything a cached entry depends on
   * changed (DESIGN §3.5 last line: changes take effect at the next access). Any CR3
   * write flushes, as on IA-32, even when the value is the same.
   */
  setControl(cr0: number, cr3: number, cr4: number, cr3Written: boolean): void {
    const pg = (cr0 & CR0_PG) !== 0;
    const wp = (cr0 & CR0_WP) !== 0;
    const pse = (cr4 & CR4_PSE) !== 0;
    const base = (cr3 & FRAME_MASK) >>> 0;
    if ((cr3Written && !this.bugs.noCr3Flush) || pg !== this.pg || wp !== this.wp || pse !== this.pse) this.tlb.flush();
    this.pg = pg;
    this.wp = wp;
    this.pse = pse;
    this.pdBase = base;
  }

  /**
   * Translate `gva` for one access (`access`: ACC_* of arch.ts), with the side effects of
   * DESIGN §3.5.5, and cache the result. Returns the hpa, or ~cause (file header).
   */
  walk(gva: number, access: number): number {
    return this.translate(gva, access, true);
  }

  /**
   * The same translation without any side effect — no A/D, no TLB fill, no counters —
   * for debuggers and comparators (STYLE §5, v86's translate_address_*_no_side_effects).
   * With no A/D write there is no EPT write check for one either.
   */
  probe(gva: number, access: number): number {
    return this.translate(gva, access, false);
  }

  /**
   * The walk. Order: guest entries and their checks as DESIGN §3.5 (a guest #PF wins over
   * the EPT of a later stage), then the final gpa, then — only if everything succeeded —
   * the A/D writes, each needing EPT write permission on its table's page (SDM 28.3.3.2:
   * guest A/D updates are writes; without EPT every stage grants RWX).
   */
  private translate(gva: number, access: number, commit: boolean): number {
    const need = (access & ACC_FETCH) !== 0 ? EPT_X : (access & ACC_WRITE) !== 0 ? EPT_W : EPT_R;
    if (!this.pg) return this.unpaged(gva, need, commit);
    if (commit) this.walks++;
    const mem = this.mem;
    const pfec = access & ACC_PFEC_MASK;
    const write = (access & ACC_WRITE) !== 0;

    const pdeGpa = (this.pdBase + pdeOffset(gva)) >>> 0;
    const ept = this.ept;
    const pdeLeaf = ept === null ? identity(pdeGpa) : this.eptStage(ept, pdeGpa, EPT_R, commit);
    if (pdeLeaf < 0) return eptFail(~pdeLeaf, EPT_R, 0, pdeGpa);
    const pdeHpa = hpaOf(pdeLeaf, pdeGpa);
    const pde = mem.read32Walk(pdeHpa);
    if (commit) this.walkRefs++;
    if ((pde & PTE_P) === 0) return ~pfec;

    if (this.pse && (pde & PDE_PS) !== 0) return this.largePage(gva, access, need, commit, pde, pdeGpa, pdeLeaf);

    const pteGpa = ((pde & FRAME_MASK) + pteOffset(gva)) >>> 0;
    const pteLeaf = ept === null ? identity(pteGpa) : this.eptStage(ept, pteGpa, EPT_R, commit);
    if (pteLeaf < 0) return eptFail(~pteLeaf, EPT_R, XF_EPT_PTE, pteGpa);
    const pteHpa = hpaOf(pteLeaf, pteGpa);
    const pte = mem.read32Walk(pteHpa);
    if (commit) this.walkRefs++;
    if ((pte & PTE_P) === 0) return ~pfec;
    const eff = pde & pte; // DESIGN §3.5.4: US and RW compose by AND
    if (!this.allowed(eff, access)) return ~(PFEC_P | pfec);
    const gpa = ((pte & FRAME_MASK) | (gva & PAGE_OFFSET_MASK)) >>> 0;
    const leaf = ept === null ? identity(gpa) : this.eptStage(ept, gpa, need, commit);
    if (leaf < 0) return eptFail(~leaf, need, XF_EPT_FINAL, gpa);
    const hpa = hpaOf(leaf, gpa);
    if (!commit) return hpa;
    // DESIGN §3.5.5: PDE.A, then PTE.A (+D), each a read-modify-write of memory as it is.
    const pteBits = write ? PTE_A | PTE_D : PTE_A;
    if ((pde & PTE_A) === 0 && (pdeLeaf & EPT_W) === 0) return eptFail(this.found(pdeLeaf), EPT_W, 0, pdeGpa);
    if ((pte & pteBits) !== pteBits && (pteLeaf & EPT_W) === 0) return eptFail(this.found(pteLeaf), EPT_W, XF_EPT_PTE, pteGpa);
    this.setBits(pdeHpa, PTE_A);
    this.setBits(pteHpa, pteBits);
    this.cache(gva, hpa, eff, write || (pte & PTE_D) !== 0, pdeHpa, pteHpa, leaf);
    return hpa;
  }

  /** The rest of the walk for a 4 MiB page (DESIGN §3.5.2): the PDE is the leaf. */
  private largePage(gva: number, access: number, need: number, commit: boolean, pde: number, pdeGpa: number, pdeLeaf: number): number {
    const pfec = access & ACC_PFEC_MASK;
    if ((pde & PDE_4M_RSVD) !== 0) return ~(PFEC_P | PFEC_RSVD | pfec);
    if (!this.allowed(pde, access)) return ~(PFEC_P | pfec);
    const gpa = ((pde & PDE_4M_FRAME_MASK) | (gva & 0x3fffff)) >>> 0;
    const ept = this.ept;
    const leaf = ept === null ? identity(gpa) : this.eptStage(ept, gpa, need, commit);
    if (leaf < 0) return eptFail(~leaf, need, XF_EPT_FINAL, gpa);
    const hpa = hpaOf(leaf, gpa);
    if (!commit) return hpa;
    // DESIGN §3.5.5: success only; for a 4 MiB page the PDE takes A (and D).
    const write = (access & ACC_WRITE) !== 0;
    const bits = write ? PTE_A | PTE_D : PTE_A;
    if ((pde & bits) !== bits && (pdeLeaf & EPT_W) === 0) return eptFail(this.found(pdeLeaf), EPT_W, 0, pdeGpa);
    const pdeHpa = hpaOf(pdeLeaf, pdeGpa);
    this.setBits(pdeHpa, bits);
    this.cache(gva, hpa, pde, write || (pde & PTE_D) !== 0, pdeHpa, -1, leaf);
    return hpa;
  }

  /**
   * Paging off: gpa = gva (DESIGN §3.5); only the gpa→hpa stage runs, which reads memory
   * only with EPT. Identity entries for RAM are cached too, so the CPU's fast paths need
   * no separate "paging off" test; PG changes flush them.
   */
  private unpaged(gva: number, need: number, commit: boolean): number {
    if (commit && this.ept !== null) this.walks++;
    const gpa = gva >>> 0;
    const ept = this.ept;
    const leaf = ept === null ? identity(gpa) : this.eptStage(ept, gpa, need, commit);
    if (leaf < 0) return eptFail(~leaf, need, XF_EPT_FINAL, gpa);
    const hpa = hpaOf(leaf, gpa);
    if (commit) this.cache(gva, hpa, PTE_US | PTE_RW, true, -1, -1, leaf);
    return hpa;
  }

  /**
   * The gpa→hpa stage with EPT: `hfn << 12 | the EPT permissions` (≥ 0), or the EPT's
   * ~cause; its references count as the walk's (only when the walk commits).
   */
  private eptStage(ept: Ept, gpa: number, need: number, commit: boolean): number {
    if (!commit) return ept.translate(gpa, need, false);
    const before = ept.refs;
    const leaf = ept.translate(gpa, need, true);
    this.walkRefs += ept.refs - before;
    return leaf;
  }

  /** The permissions a stage found, as an EPT failure's cause bits (for an A/D write it refuses). */
  private found(leaf: number): number {
    return (leaf & EPT_RWX) << EPT_FAIL_PERM_SHIFT;
  }

  /** DESIGN §3.5.4: user needs US; a write needs RW unless supervisor with WP clear. */
  private allowed(eff: number, access: number): boolean {
    const user = (access & ACC_USER) !== 0;
    if (user && (eff & PTE_US) === 0) return false;
    if ((access & ACC_WRITE) !== 0 && (eff & PTE_RW) === 0 && (user || this.wp)) return false;
    return true;
  }

  /**
   * Read-modify-write of a page-structure word. Not a "store" for TLB coherence: it only
   * ever sets A or D, which makes no cached entry wrong (an entry without TLB_D simply
   * re-walks on a write), so it needs no flush.
   */
  private setBits(hpa: number, bits: number): void {
    const w = this.mem.read32Walk(hpa);
    if ((w & bits) !== bits) this.mem.write32Walk(hpa, w | bits);
  }

  /**
   * Cache a successful translation when its frame is RAM, and mark the RAM frames the
   * walk read so that a later store to them flushes (tlb.ts invariants, DESIGN §3.6).
   * `leaf` is the final stage's result: its low bits are the EPT permissions.
   */
  private cache(gva: number, hpa: number, eff: number, dirty: boolean, pdeHpa: number, pteHpa: number, leaf: number): void {
    const hfn = hpa >>> PAGE_SHIFT;
    const frames = this.mem.frames;
    if (hfn >= frames) return;
    // A TLB entry has no execute or read-only-for-fetch flag, so a page the EPT does not
    // let both be read and fetched is never cached: every access to it re-walks and the
    // EPT check happens there (execute-only and no-execute pages are rare and slow).
    if ((leaf & (EPT_R | EPT_X)) !== (EPT_R | EPT_X)) return;
    const eptWrite = (leaf & EPT_W) !== 0;
    const tlb = this.tlb;
    if (pdeHpa >= 0 && pdeHpa >>> PAGE_SHIFT < frames) tlb.markTable(pdeHpa >>> PAGE_SHIFT);
    if (pteHpa >= 0 && pteHpa >>> PAGE_SHIFT < frames) tlb.markTable(pteHpa >>> PAGE_SHIFT);
    let flags = TLB_V;
    if ((eff & PTE_US) !== 0) flags |= TLB_U;
    if ((eff & PTE_US) !== 0 && (eff & PTE_RW) !== 0 && eptWrite) flags |= TLB_WU;
    if (((eff & PTE_RW) !== 0 || !this.wp) && eptWrite) flags |= TLB_WS;
    if (dirty) flags |= TLB_D;
    tlb.fill(gva >>> PAGE_SHIFT, (hfn << PAGE_SHIFT) | flags);
  }
}
