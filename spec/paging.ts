// DESIGN §3.5 — paging: the two-level walk, PSE, reserved bits, permissions, A/D bits
// and the #PF error code. There is no TLB (§3.6): every access walks the tables as they
// are in memory at that moment.

import { match } from 'ts-pattern';
import { Fault, PF } from './faults.ts';
import type { PhysMem } from './phys.ts';
import { CR0_PG, CR0_WP, CR4_PSE, type CpuState } from './state.ts';

// Page-table entry bits (§3.5).
export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_US = 1 << 2;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
export const PDE_PS = 1 << 7;
/** Bits 13–21 of a 4 MiB PDE are reserved, as on the original Pentium (§3.5.2). */
export const PDE_4M_RSVD = 0x003fe000;
const FRAME_4K = 0xfffff000;
const FRAME_4M = 0xffc00000;

// #PF error-code bits (§3.5.6).
export const PFEC_P = 1 << 0;
export const PFEC_W = 1 << 1;
export const PFEC_U = 1 << 2;
export const PFEC_RSVD = 1 << 3;

export type AccessKind = 'read' | 'write' | 'fetch';

/**
 * Who is accessing: `user` is cpl == 3, except the implicit supervisor accesses of event
 * delivery (IDT, TSS, pushes), which are supervisor whatever the cpl (§3.5).
 */
export interface Access {
  kind: AccessKind;
  user: boolean;
}

/** Why a walk failed; one exhaustive match turns it into an error code. */
export type WalkError = 'not-present' | 'protection' | 'reserved';

/** §3.5.6 and §3.10.1: P says "protection" (a reserved-bit fault counts as one), W, U, RSVD. */
export function pfErrorCode(cause: WalkError, acc: Access): number {
  const base = match(cause)
    .with('not-present', () => 0)
    .with('protection', () => PFEC_P)
    .with('reserved', () => PFEC_P | PFEC_RSVD)
    .exhaustive();
  // Fetches are checked as reads (§3.5.4), so they never carry W.
  return base | (acc.kind === 'write' ? PFEC_W : 0) | (acc.user ? PFEC_U : 0);
}

const pageFault = (cause: WalkError, la: number, acc: Access): Fault => new Fault(PF, pfErrorCode(cause, acc), la >>> 0);

/**
 * §3.5.4: a user access needs US in every level; a write needs RW in every level if the
 * access is a user one or CR0.WP is set (supervisor writes ignore RW otherwise).
 */
function permitted(userOk: boolean, writable: boolean, acc: Access, cr0: number): boolean {
  if (acc.user && !userOk) return false;
  if (acc.kind === 'write' && !writable && (acc.user || (cr0 & CR0_WP) !== 0)) return false;
  return true;
}

/**
 * Translate one linear address. On success sets A/D exactly as §3.5.5 (unless
 * `setAccessed` is false: a debugger's look that must not change the machine) — each a
 * read-modify-write of the word as it is in memory now, which matters when a PDE
 * doubles as a PTE (recursive mappings) — and returns the physical address.
 */
export function translate(mem: PhysMem, s: CpuState, la: number, acc: Access, setAccessed = true): number | Fault {
  if (!(s.cr0 & CR0_PG)) return la >>> 0; // §3.5: linear = physical
  const write = acc.kind === 'write';

  // §3.5.1
  const pdeAddr = (s.cr3 + 4 * (la >>> 22)) >>> 0;
  const pde = mem.readWalk32(pdeAddr);
  if (!(pde & PTE_P)) return pageFault('not-present', la, acc);

  // §3.5.2: a 4 MiB page; permissions from the PDE alone.
  if (s.cr4 & CR4_PSE && pde & PDE_PS) {
    if (pde & PDE_4M_RSVD) return pageFault('reserved', la, acc);
    if (!permitted((pde & PTE_US) !== 0, (pde & PTE_RW) !== 0, acc, s.cr0)) return pageFault('protection', la, acc);
    if (setAccessed) mem.writeWalk32(pdeAddr, mem.readWalk32(pdeAddr) | PTE_A | (write ? PTE_D : 0));
    return ((pde & FRAME_4M) | (la & ~FRAME_4M)) >>> 0;
  }

  // §3.5.3
  const pteAddr = ((pde & FRAME_4K) + 4 * ((la >>> 12) & 0x3ff)) >>> 0;
  const pte = mem.readWalk32(pteAddr);
  if (!(pte & PTE_P)) return pageFault('not-present', la, acc);

  // §3.5.4
  const userOk = (pde & pte & PTE_US) !== 0;
  const writable = (pde & pte & PTE_RW) !== 0;
  if (!permitted(userOk, writable, acc, s.cr0)) return pageFault('protection', la, acc);

  // §3.5.5: success only, PDE first, then PTE; D only for writes.
  if (setAccessed) {
    mem.writeWalk32(pdeAddr, mem.readWalk32(pdeAddr) | PTE_A);
    mem.writeWalk32(pteAddr, mem.readWalk32(pteAddr) | PTE_A | (write ? PTE_D : 0));
  }
  return ((pte & FRAME_4K) | (la & 0xfff)) >>> 0;
}
