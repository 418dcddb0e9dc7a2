// The matrix's oracle: what DESIGN §3.5 says one access does, given the two page-table
// words it walks and the CPU mode. Written from the design text alone — it imports
// nothing from spec/ or src/ (DESIGN §1: independent implementations are what makes a
// differential test mean something), and it is a straight-line reading of §3.5 rather
// than a walker, so a reviewer can check it clause by clause.

import type { Scenario } from './matrix.ts';

export interface PageFault {
  /** DESIGN §3.5.6: bit 0 P, bit 1 W, bit 2 U, bit 3 RSVD. */
  errorCode: number;
  /** DESIGN §3.5.6: the faulting linear address. */
  cr2: number;
}

/** The expected effect of the access on everything §3.5 governs. */
export interface Verdict {
  /** `null`: the access succeeds. */
  fault: PageFault | null;
  /** The PDE and PTE words in memory afterwards. */
  pde: number;
  pte: number;
}

export type Oracle = (s: Scenario) => Verdict;

const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const A = 1 << 5;
const D = 1 << 6;
const PS = 1 << 7;
/** DESIGN §3.5.2: bits 13–21 of a 4 MiB PDE are reserved. */
const LARGE_PDE_RESERVED = 0x003fe000;
const CR0_WP = 1 << 16;
const CR4_PSE = 1 << 4;

const EC_P = 1 << 0;
const EC_W = 1 << 1;
const EC_U = 1 << 2;
const EC_RSVD = 1 << 3;

export const oracle: Oracle = (s) => {
  // §3.5: `user` is cpl == 3 (the matrix's accesses are all explicit). §3.5.4: fetches
  // are checked as reads, so only a write sets W.
  const user = s.cpl === 3;
  const write = s.access === 'write';
  const fault = (code: number): Verdict => ({
    // §3.5.6 (W, U as usual on every #PF); §3.5.5: a faulting translation sets no A/D.
    fault: { errorCode: code | (write ? EC_W : 0) | (user ? EC_U : 0), cr2: s.la >>> 0 },
    pde: s.pde,
    pte: s.pte,
  });

  // §3.5.1: PDE not present → #PF, P = 0.
  if (!(s.pde & P)) return fault(0);

  // §3.5.2: a 4 MiB page needs CR4.PSE and PDE.PS; its reserved bits fault with P = 1
  // and RSVD = 1 (§3.10.1). Permissions come from the PDE alone.
  const large = (s.cr4 & CR4_PSE) !== 0 && (s.pde & PS) !== 0;
  if (large && s.pde & LARGE_PDE_RESERVED) return fault(EC_P | EC_RSVD);

  // §3.5.3: PTE not present → #PF, P = 0 (presence is settled before any permission).
  if (!large && !(s.pte & P)) return fault(0);

  // §3.5.4: user-accessible = PDE.US ∧ PTE.US, writable = PDE.RW ∧ PTE.RW.
  const userOk = large ? (s.pde & US) !== 0 : (s.pde & US) !== 0 && (s.pte & US) !== 0;
  const writable = large ? (s.pde & RW) !== 0 : (s.pde & RW) !== 0 && (s.pte & RW) !== 0;
  if (user && !userOk) return fault(EC_P);
  if (write && !writable && (user || (s.cr0 & CR0_WP) !== 0)) return fault(EC_P);

  // §3.5.5: on success PDE |= A, then PTE |= A and for writes PTE |= D; a 4 MiB page
  // takes A (and D for writes) in the PDE.
  if (large) return { fault: null, pde: (s.pde | A | (write ? D : 0)) >>> 0, pte: s.pte };
  return { fault: null, pde: (s.pde | A) >>> 0, pte: (s.pte | A | (write ? D : 0)) >>> 0 };
};
