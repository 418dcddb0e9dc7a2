// The physical layout of an insn-states guest (RAM 64 KiB, DESIGN §3.2), and names for
// its addresses. Its own map, not properties/arbitraries/layout.ts's: one instruction
// needs a smaller, denser guest. What the architecture fixes — the device address, the
// vectors, the selectors of each ring — is that module's.

import { MMIO, hex } from '../arbitraries/layout.ts';

export const RAM_BYTES = 0x10000;
/** A few dozen steps: the prologue (~30), the instruction, `hlt`, a handler or two. */
export const MAX_STEPS = 64;

export const HANDLER = 0x0800; // the one handler of every vector (the prologue starts at 0)
export const VARS = 0x0f00; // the handler's saved eax, then the device ID it read
export const INSN_PAGE = 0x1000; // the instruction under test (random permissions)
export const INSN_PAGE2 = 0x2000; // the next page, for an instruction at a page end
export const IDT = 0x3000; // 256 gates
export const TSS = 0x3800; // ESP0 at TSS + 4 (DESIGN §3.7)
export const IDT_DESC = 0x3900;
export const PD = 0x4000;
export const PT = 0x5000; // identity map of RAM and two pages beyond it
export const PT_MMIO = 0x6000; // maps the device page
export const KSTACK = 0x7000;
export const PSTACK = 0x7800; // the prologue's stack
export const KSTACK_TOP = 0x8000; // the valid ESP0
export const DATA = [0x8000, 0x9000, 0xa000, 0xb000] as const; // D0–D3 (random permissions)
export const DSTACK = 0xc000; // the usual stack page (random permissions)
export const SPARE = 0xd000; // 0xD000–0xFFFF: user-writable, zero
export const OPEN_BUS = RAM_BYTES; // mapped, but no RAM behind it
export const UNMAPPED = 0x20000; // no PTE (paging off: open bus)
export const BIG = 0x400000; // PDE 1: with CR4.PSE a 4 MiB alias of 0–4 MiB (random permissions), else not present
export const FAR = 0x800000; // PDE 2: not present
export const MMIO_PTE = (MMIO >>> 12) & 0x3ff;

/** The pages whose permissions a case chooses, in PT order. */
export const RANDOM_PAGES = ['INSN', 'INSN2', 'D0', 'D1', 'D2', 'D3', 'DSTACK'] as const;
export const RANDOM_PAGE_ADDR = [INSN_PAGE, INSN_PAGE2, ...DATA, DSTACK];

/** Where the instruction under test starts: its page's start, its last 8 bytes, or straddling two pages. */
export type InsnAt = 'page' | 'page-end' | 'straddle';
export const INSN_ADDR: Readonly<Record<InsnAt, number>> = { page: INSN_PAGE, 'page-end': INSN_PAGE + 0xff8, straddle: INSN_PAGE + 0xffc };

/** `D1 + 0xFFC`, `MMIO + 0x4`: a name for an address a person can place, if it has one. */
export function describe(v: number): string | undefined {
  v >>>= 0;
  const regions: [string, number, number][] = [
    ['HANDLER', HANDLER, 0x700],
    ['INSN_PAGE', INSN_PAGE, 0x1000],
    ['INSN_PAGE2', INSN_PAGE2, 0x1000],
    ['IDT', IDT, 0x800],
    ['TSS', TSS, 0x100],
    ['PD', PD, 0x1000],
    ['PT', PT, 0x1000],
    ['PT_MMIO', PT_MMIO, 0x1000],
    ['KSTACK', KSTACK, 0x1000],
    ...DATA.map((d, i): [string, number, number] => [`D${i}`, d, 0x1000]),
    ['DSTACK', DSTACK, 0x1000],
    ['SPARE', SPARE, 0x3000],
    ['OPEN_BUS', OPEN_BUS, 0x2000],
    ['UNMAPPED', UNMAPPED, 0x1000],
    ['BIG', BIG, 0x12000],
    ['FAR', FAR, 0x1000],
    ['MMIO', MMIO, 0x1000],
  ];
  for (const [name, base, size] of regions) if (v >= base && v < base + size) return v === base ? name : `${name} + ${hex(v - base)}`;
  return undefined;
}

/** A value as the program prints it: hex, and its place in the layout as a comment. */
export const valueText = (v: number): string => {
  const d = describe(v);
  return d ? `${hex(v)}`.padEnd(12) + `; ${d}` : hex(v);
};
