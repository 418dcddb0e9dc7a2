// The MMU's page walker (DESIGN §3.5): 2-level non-PAE paging with optional 4 MiB pages,
// permission checks, A/D updates and #PF error codes, filling the TLB (tlb.ts) on success.
// The CPU asks the TLB first and calls `walk` only on a miss, so everything here is the
// slow path and may be plain.
//
// With an EPT installed (VMX-lite non-root mode, DESIGN §4) every guest-physical address
// the walk touches — the PDE, the PTE, their A/D writes and the final address — goes
// through the EPT as well (`walk2d`): a 2-D walk of up to (n+1)(m+1)−1 = 8 references for
// n = m = 2 (SDM vol. 3C 28.3.2), counted in `walkRefs`. The TLB caches the combined
// gva→hpa translation.

import type { PhysMem } from './memory.ts';
import { HwBugs } from './bugs.ts';
import { TLB_D, TLB_U, TLB_V, TLB_WS, TLB_WU, Tlb } from './tlb.ts';
import { EPT_MISCONFIG, EPT_R, EPT_RWX, EPT_W, EPT_X, type Ept } from './ept.ts';

// Page-structure entry bits (DESIGN §3.5).
const P = 1;
const RW = 2;
const US = 4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
/** DESIGN §3.5.2: bits 13–21 of a 4 MiB PDE are reserved (original Pentium PSE). */
const PDE4M_RSVD = 0x003fe000;

// #PF error-code bits (DESIGN §3.5.6).
export const PF_P = 1;
export const PF_W = 2;
export const PF_U = 4;
export const PF_RSVD = 8;

export const CR0_PE = 1;
export const CR0_WP = 1 << 16;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;

/** `walk`/`probe` result when the translation faults. Valid hpas are ≥ 0. */
export const XLATE_FAULT = -1;
/** `walk` result when an EPT translation failed: a VM exit, not a guest fault. */
export const XLATE_EPT = -2;

export class Mmu {
  // The paging controls, copied from the CPU's control registers by `setControl`.
  pg = false;
  wp = false;
  pse = false;
  /** cr3 as an unsigned page-directory base. */
  pdBase = 0;

  /** Error code of the last faulting walk. */
  faultErr = 0;

  /** The second translation of non-root mode with EPT; null otherwise (vmx.ts sets it). */
  ept: Ept | null = null;
  /** Last XLATE_EPT: true for the final address, false for a paging-structure access. */
  eptFinal = false;
  /** Last XLATE_EPT: a misconfiguration rather than a violation. */
  eptMisconfig = false;

  /** Counters (not guest-visible). */
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
    const base = (cr3 & ~0xfff) >>> 0;
    if ((cr3Written && !this.bugs.noCr3Flush) || pg !== this.pg || wp !== this.wp || pse !== this.pse) this.tlb.flush();
    this.pg = pg;
    this.wp = wp;
    this.pse = pse;
    this.pdBase = base;
  }

  /**
   * Translate linear `la` for one access, with the side effects of DESIGN §3.5.5, and
   * cache the result. Returns the hpa, or XLATE_FAULT with `faultErr` set.
   */
  walk(la: number, write: boolean, user: boolean, fetch = false): number {
    if (this.ept !== null) return this.walk2d(this.ept, la, write, user, fetch);
    this.walks++;
    const mem = this.mem;
    const accessBits = (write ? PF_W : 0) | (user ? PF_U : 0);
    const pdeAddr = (this.pdBase + ((la >>> 22) << 2)) >>> 0;
    const pde = mem.read32Walk(pdeAddr);
    this.walkRefs++;
    if ((pde & P) === 0) return this.fault(accessBits);

    if (this.pse && (pde & PS) !== 0) {
      if ((pde & PDE4M_RSVD) !== 0) return this.fault(PF_P | PF_RSVD | accessBits);
      if (!this.allowed(pde, write, user)) return this.fault(PF_P | accessBits);
      // DESIGN §3.5.5: success only; for a 4 MiB page the PDE takes A (and D).
      this.setBits(pdeAddr, write ? A | D : A);
      const hpa = ((pde & 0xffc00000) | (la & 0x3fffff)) >>> 0;
      this.cache(la, hpa, pde, write || (pde & D) !== 0, pdeAddr, -1, EPT_RWX);
      return hpa;
    }

    const pteAddr = ((pde & 0xfffff000) + (((la >>> 12) & 0x3ff) << 2)) >>> 0;
    const pte = mem.read32Walk(pteAddr);
    this.walkRefs++;
    if ((pte & P) === 0) return this.fault(accessBits);
    const eff = pde & pte; // DESIGN §3.5.4: US and RW compose by AND
    if (!this.allowed(eff, write, user)) return this.fault(PF_P | accessBits);
    // DESIGN §3.5.5: PDE.A, then PTE.A (+D), each a read-modify-write of memory as it is.
    this.setBits(pdeAddr, A);
    this.setBits(pteAddr, write ? A | D : A);
    const hpa = ((pte & 0xfffff000) | (la & 0xfff)) >>> 0;
    this.cache(la, hpa, eff, write || (pte & D) !== 0, pdeAddr, pteAddr, EPT_RWX);
    return hpa;
  }

  /**
   * The 2-D walk: `walk` with every guest-physical address translated by the EPT. Order:
   * guest entries and their checks as DESIGN §3.5 (a guest #PF wins over the EPT of a
   * later stage), then the final gpa, then — only if everything succeeded — the A/D
   * writes, each needing EPT write permission on its table's page (SDM 28.3.3.2: guest
   * A/D updates are writes). With guest paging off, la = gpa and only the final stage runs.
   */
  private walk2d(ept: Ept, la: number, write: boolean, user: boolean, fetch: boolean): number {
    this.walks++;
    const mem = this.mem;
    const need = fetch ? EPT_X : write ? EPT_W : EPT_R;
    if (!this.pg) {
      const hpa = this.eptStage(ept, la >>> 0, need, true);
      if (hpa >= 0) this.cache(la, hpa, US | RW, true, -1, -1, ept.perms);
      return hpa;
    }
    const accessBits = (write ? PF_W : 0) | (user ? PF_U : 0);
    const pdeGpa = (this.pdBase + ((la >>> 22) << 2)) >>> 0;
    const pdeHpa = this.eptStage(ept, pdeGpa, EPT_R, false);
    if (pdeHpa < 0) return pdeHpa;
    const pdePerms = ept.perms;
    const pde = mem.read32Walk(pdeHpa);
    this.walkRefs++;
    if ((pde & P) === 0) return this.fault(accessBits);

    if (this.pse && (pde & PS) !== 0) {
      if ((pde & PDE4M_RSVD) !== 0) return this.fault(PF_P | PF_RSVD | accessBits);
      if (!this.allowed(pde, write, user)) return this.fault(PF_P | accessBits);
      const hpa = this.eptStage(ept, ((pde & 0xffc00000) | (la & 0x3fffff)) >>> 0, need, true);
      if (hpa < 0) return hpa;
      const finalPerms = ept.perms;
      const bits = write ? A | D : A;
      if ((pde & bits) !== bits && (pdePerms & EPT_W) === 0) return this.eptAdFault(ept, pdeGpa, pdePerms);
      this.setBits(pdeHpa, bits);
      this.cache(la, hpa, pde, write || (pde & D) !== 0, pdeHpa, -1, finalPerms);
      return hpa;
    }

    const pteGpa = ((pde & 0xfffff000) + (((la >>> 12) & 0x3ff) << 2)) >>> 0;
    const pteHpa = this.eptStage(ept, pteGpa, EPT_R, false);
    if (pteHpa < 0) return pteHpa;
    const ptePerms = ept.perms;
    const pte = mem.read32Walk(pteHpa);
    this.walkRefs++;
    if ((pte & P) === 0) return this.fault(accessBits);
    const eff = pde & pte;
    if (!this.allowed(eff, write, user)) return this.fault(PF_P | accessBits);
    const hpa = this.eptStage(ept, ((pte & 0xfffff000) | (la & 0xfff)) >>> 0, need, true);
    if (hpa < 0) return hpa;
    const finalPerms = ept.perms;
    const pteBits = write ? A | D : A;
    if ((pde & A) === 0 && (pdePerms & EPT_W) === 0) return this.eptAdFault(ept, pdeGpa, pdePerms);
    if ((pte & pteBits) !== pteBits && (ptePerms & EPT_W) === 0) return this.eptAdFault(ept, pteGpa, ptePerms);
    this.setBits(pdeHpa, A);
    this.setBits(pteHpa, pteBits);
    this.cache(la, hpa, eff, write || (pte & D) !== 0, pdeHpa, pteHpa, finalPerms);
    return hpa;
  }

  /** One EPT stage of the 2-D walk; its references count as walk references. */
  private eptStage(ept: Ept, gpa: number, need: number, final: boolean): number {
    const before = ept.refs;
    const hpa = ept.translate(gpa, need);
    this.walkRefs += ept.refs - before;
    if (hpa >= 0) return hpa;
    this.eptFinal = final;
    this.eptMisconfig = hpa === EPT_MISCONFIG;
    return XLATE_EPT;
  }

  /** A guest A/D write to a table page the EPT maps without write permission. */
  private eptAdFault(ept: Ept, gpa: number, perms: number): number {
    ept.faultGpa = gpa;
    ept.faultAccess = EPT_W;
    ept.faultPerms = perms;
    this.eptFinal = false;
    this.eptMisconfig = false;
    return XLATE_EPT;
  }

  /**
   * The same translation without any side effect — no A/D, no TLB fill, no counters —
   * for debuggers and comparators (STYLE §5, v86's translate_address_*_no_side_effects).
   */
  probe(la: number, write: boolean, user: boolean, fetch = false): number {
    const need = fetch ? EPT_X : write ? EPT_W : EPT_R;
    if (!this.pg) return this.probeGpa(la >>> 0, need);
    const pdeHpa = this.probeGpa((this.pdBase + ((la >>> 22) << 2)) >>> 0, EPT_R);
    if (pdeHpa < 0) return pdeHpa;
    const pde = this.mem.read32Walk(pdeHpa);
    if ((pde & P) === 0) return XLATE_FAULT;
    if (this.pse && (pde & PS) !== 0) {
      if ((pde & PDE4M_RSVD) !== 0 || !this.allowed(pde, write, user)) return XLATE_FAULT;
      return this.probeGpa(((pde & 0xffc00000) | (la & 0x3fffff)) >>> 0, need);
    }
    const pteHpa = this.probeGpa(((pde & 0xfffff000) + (((la >>> 12) & 0x3ff) << 2)) >>> 0, EPT_R);
    if (pteHpa < 0) return pteHpa;
    const pte = this.mem.read32Walk(pteHpa);
    if ((pte & P) === 0 || !this.allowed(pde & pte, write, user)) return XLATE_FAULT;
    return this.probeGpa(((pte & 0xfffff000) | (la & 0xfff)) >>> 0, need);
  }

  /** gpa → hpa without side effects: identity without EPT, XLATE_EPT when the EPT refuses. */
  private probeGpa(gpa: number, need: number): number {
    if (this.ept === null) return gpa;
    const hpa = this.ept.probe(gpa, need);
    return hpa >= 0 ? hpa : XLATE_EPT;
  }

  /** DESIGN §3.5.4: user needs US; a write needs RW unless supervisor with WP clear. */
  private allowed(eff: number, write: boolean, user: boolean): boolean {
    if (user && (eff & US) === 0) return false;
    if (write && (eff & RW) === 0 && (user || this.wp)) return false;
    return true;
  }

  private fault(err: number): number {
    this.faultErr = err;
    return XLATE_FAULT;
  }

  /**
   * Read-modify-write of a page-structure word. Not a "store" for TLB coherence: it only
   * ever sets A or D, which makes no cached entry wrong (an entry without TLB_D simply
   * re-walks on a write), so it needs no flush.
   */
  private setBits(addr: number, bits: number): void {
    const w = this.mem.read32Walk(addr);
    if ((w & bits) !== bits) this.mem.write32Walk(addr, w | bits);
  }

  /**
   * Cache a successful translation when its frame is RAM, and mark the RAM frames the
   * walk read so that a later store to them flushes (tlb.ts invariants, DESIGN §3.6).
   */
  private cache(
    la: number,
    hpa: number,
    eff: number,
    dirty: boolean,
    pdeAddr: number,
    pteAddr: number,
    eptPerms: number,
  ): void {
    const hfn = hpa >>> 12;
    if (hfn >= this.mem.frames) return;
    // A TLB entry has no execute or read-only-for-fetch flag, so a page the EPT does not
    // let both be read and fetched is never cached: every access to it re-walks and the
    // EPT check happens there (execute-only and no-execute pages are rare and slow).
    if ((eptPerms & (EPT_R | EPT_X)) !== (EPT_R | EPT_X)) return;
    const eptWrite = (eptPerms & EPT_W) !== 0;
    const tlb = this.tlb;
    const frames = this.mem.frames;
    if (pdeAddr >= 0 && pdeAddr >>> 12 < frames) tlb.markTable(pdeAddr >>> 12);
    if (pteAddr >= 0 && pteAddr >>> 12 < frames) tlb.markTable(pteAddr >>> 12);
    let flags = TLB_V;
    if ((eff & US) !== 0) flags |= TLB_U;
    if ((eff & US) !== 0 && (eff & RW) !== 0 && eptWrite) flags |= TLB_WU;
    if (((eff & RW) !== 0 || !this.wp) && eptWrite) flags |= TLB_WS;
    if (dirty) flags |= TLB_D;
    tlb.fill(la >>> 12, (hfn << 12) | flags);
  }
}
