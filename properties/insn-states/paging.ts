// Paging of a case (DESIGN §3.5): off, 4 KiB pages with random P/RW/US/A/D on the pages
// the instruction touches, a 4 MiB page at 0, or PS without CR4.PSE; CR0.WP, PDE
// permissions; and the CR0, CR4, PDE 0 and PT entries they come to.

import fc from 'fast-check';
import { mostly } from '../arbitraries/pieces/common.ts';
import { A, D, P, PS, RSVD4M, RW, US } from '../arbitraries/paging.ts';
import { PT, RAM_BYTES, RANDOM_PAGES, RANDOM_PAGE_ADDR } from './layout.ts';
import { pick } from './pools.ts';

// DESIGN §3.1 control-register bits.
const CR0_PE = 1,
  CR0_WP = 1 << 16,
  CR0_PG = 0x80000000;
const CR4_PSE = 0x10;

export interface PagePerm {
  p: boolean;
  rw: boolean;
  us: boolean;
  ad: number;
}

export interface Paging {
  /** `4m`: PDE 0 a 4 MiB page (CR4.PSE on); `ps-without-pse`: PDE 0 → PT with PS set but CR4.PSE off (PS ignored). */
  mode: 'off' | '4k' | '4m' | 'ps-without-pse';
  pse: boolean;
  wp: boolean;
  pde: { rw: boolean; us: boolean; rsvd: boolean };
  /** Permissions of RANDOM_PAGES. */
  pages: PagePerm[];
  mmio: { rw: boolean; us: boolean };
  /** PDE 1's permissions, when it is the 4 MiB alias BIG. */
  big: { rw: boolean; us: boolean };
}

/** What the functions below read of a case. */
export interface Paged {
  paging: Paging;
}

const pageArb = (usual: number): fc.Arbitrary<PagePerm> =>
  fc.record({
    p: mostly(true, fc.constant(false), usual * 2),
    rw: mostly(true, fc.constant(false), usual),
    us: mostly(true, fc.constant(false), usual),
    ad: pick(0, 0, 0, A, A | D),
  });

export const pagingArb: fc.Arbitrary<Paging> = fc.record({
  mode: fc.oneof(
    { weight: 7, arbitrary: fc.constant('off' as const) },
    { weight: 9, arbitrary: fc.constant('4k' as const) },
    { weight: 4, arbitrary: fc.constant('4m' as const) },
    { weight: 1, arbitrary: fc.constant('ps-without-pse' as const) },
  ),
  pse: fc.boolean(),
  wp: fc.boolean(),
  pde: fc.record({
    rw: mostly(true, fc.constant(false), 9),
    us: mostly(true, fc.constant(false), 9),
    rsvd: mostly(false, fc.constant(true), 19),
  }),
  pages: fc.tuple(pageArb(8), pageArb(8), pageArb(2), pageArb(2), pageArb(2), pageArb(2), pageArb(4)),
  mmio: fc.record({ rw: mostly(true, fc.constant(false), 3), us: mostly(true, fc.constant(false), 3) }),
  big: fc.record({ rw: mostly(true, fc.constant(false), 3), us: mostly(true, fc.constant(false), 3) }),
});

/** `P | RW | US`: an entry's bits as the program's comments print them. */
export const permText = (v: number): string =>
  ['P', 'RW', 'US', 'A', 'D', 'PS'].filter((_, i) => v & [P, RW, US, A, D, PS][i]!).join(' | ') || '0';
const permOf = (p: PagePerm): number => (p.p ? P : 0) | (p.rw ? RW : 0) | (p.us ? US : 0) | p.ad;

export const pagingOn = (c: Paged): boolean => c.paging.mode !== 'off';
export const cr4Of = (c: Paged): number => (c.paging.mode === '4m' || (c.paging.mode === '4k' && c.paging.pse) ? CR4_PSE : 0);
export const cr0Of = (c: Paged): number => (CR0_PE | (c.paging.wp ? CR0_WP : 0) | (pagingOn(c) ? CR0_PG : 0)) >>> 0;

export function pde0(c: Paged): number {
  const { pde, mode } = c.paging;
  const perms = P | (pde.rw ? RW : 0) | (pde.us ? US : 0);
  if (mode === '4m') return (perms | PS | (pde.rsvd ? RSVD4M : 0)) >>> 0; // frame 0: 0–4 MiB
  // Without CR4.PSE the PS bit is ignored (DESIGN §3.5.2): PT maps the pages as in '4k'.
  if (mode === 'ps-without-pse') return PT | perms | PS;
  return PT | perms;
}

/** PT entries: page number → (value, comment). */
export function ptEntries(c: Paged): [number, number, string][] {
  const out: [number, number, string][] = [];
  const fixed: Record<number, string> = { 0: 'CODE', 3: 'IDT, TSS', 4: 'PD', 5: 'PT', 6: 'PT_MMIO', 7: 'KSTACK' };
  for (let n = 0; n < RAM_BYTES / 0x1000 + 2; n++) {
    const addr = n << 12;
    const r = RANDOM_PAGE_ADDR.indexOf(addr);
    if (r >= 0) out.push([n, addr | permOf(c.paging.pages[r]!), RANDOM_PAGES[r]!]);
    else if (fixed[n] !== undefined) out.push([n, addr | P | RW, `${fixed[n]} (supervisor)`]);
    else if (addr < RAM_BYTES) out.push([n, addr | P | RW | US, 'SPARE']);
    else out.push([n, addr | P | RW | US, 'open bus (no RAM)']);
  }
  return out;
}
