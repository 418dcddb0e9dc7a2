// Load and store pieces (DESIGN §3.5, §3.2): through the identity map, the playground's
// random mappings, the 4 MiB alias of RAM, the recursive window; words that straddle two
// pages (the second one may fault: CR2 is then the first byte of that page, §3.5.6),
// words straddling the end of RAM (part RAM, part open bus), byte accesses, and a word
// that wraps around the top of the linear space (§3.10.12).

import fc from 'fast-check';
import { PLAY_ENTRIES } from '../layout.ts';
import { BYTE_REG, hex, ins, regArb, valueArb, type Ctx, type Emit, type Reg } from './common.ts';

export const BIG_FRAMES = ['DATA0', 'DATA1', 'F0', 'F1', 'F2', 'F3', 'PT_PLAY_A', 'PT_PLAY_B'] as const;

export type Target =
  | { area: 'data'; page: 0 | 1; off: number }
  | { area: 'play'; entry: number; off: number }
  | { area: 'big'; frame: (typeof BIG_FRAMES)[number]; off: number }
  /** A page-table word seen through the recursive slot: table 1023 is the directory itself. */
  | { area: 'rec'; table: 0 | 2 | 1023; index: number }
  | { area: 'ram-end'; back: number }
  | { area: 'wrap' };

export interface MemPiece {
  kind: 'mem';
  store: boolean;
  width: 1 | 4;
  target: Target;
  /** Address the operand through a base register (`[esi + off]`) instead of absolutely. */
  viaBase: boolean;
  reg: Reg;
  value: number;
}

/** Offsets within a page: aligned words past the code stubs, unaligned, and the last bytes (straddling). */
export const offArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 4, max: 40 }).map((k) => 4 * k) },
  { weight: 1, arbitrary: fc.integer({ min: 0x11, max: 0x1f }) },
  { weight: 3, arbitrary: fc.integer({ min: 0xffd, max: 0xfff }) },
);

export const targetArb: fc.Arbitrary<Target> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ area: fc.constant('data' as const), page: fc.constantFrom<0 | 1>(0, 1), off: offArb }) },
  {
    weight: 5,
    arbitrary: fc.record({ area: fc.constant('play' as const), entry: fc.integer({ min: 0, max: PLAY_ENTRIES }), off: offArb }),
  },
  { weight: 2, arbitrary: fc.record({ area: fc.constant('big' as const), frame: fc.constantFrom(...BIG_FRAMES), off: offArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      area: fc.constant('rec' as const),
      table: fc.constantFrom<0 | 2 | 1023>(2, 0, 1023),
      index: fc.integer({ min: 0, max: 1023 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ area: fc.constant('ram-end' as const), back: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ area: 'wrap' as const }) },
);

export const memArb: fc.Arbitrary<MemPiece> = fc
  .record({
    kind: fc.constant('mem' as const),
    store: fc.boolean(),
    width: fc.oneof({ weight: 3, arbitrary: fc.constant<1 | 4>(4) }, { weight: 1, arbitrary: fc.constant<1 | 4>(1) }),
    target: targetArb,
    viaBase: fc.boolean(),
    reg: regArb,
    value: valueArb,
  })
  // Stores through the recursive window are page-table edits (pieces/paging.ts); a store
  // that wraps would hit the prologue with paging off. Neither belongs here.
  .map((p) => (p.target.area === 'rec' || p.target.area === 'wrap' ? { ...p, store: false } : p));

/** The operand's linear address as an expression over the prologue's `.equ` names. */
export function targetText(t: Target): string {
  switch (t.area) {
    case 'data':
      return `DATA${t.page} + ${hex(t.off)}`;
    case 'play':
      return `PLAY + ${hex(t.entry * 0x1000)} + ${hex(t.off)}`;
    case 'big':
      return `BIG + ${t.frame} + ${hex(t.off)}`;
    case 'rec':
      return t.table === 1023 ? `REC_PD + 4 * ${t.index}` : `REC + ${hex(t.table * 0x1000)} + 4 * ${t.index}`;
    case 'ram-end':
      return `RAM_END - ${t.back}`;
    case 'wrap':
      return '0xFFFFFFFE';
  }
}

/** Does a width-byte access at this target touch two pages (or RAM and what lies past it)? */
export function straddles(t: Target, width: number): boolean {
  if (width === 1) return false;
  switch (t.area) {
    case 'data':
    case 'play':
    case 'big':
      return (t.off & 0xfff) > 0x1000 - width;
    case 'ram-end':
      return t.back < width;
    case 'wrap':
      return true;
    case 'rec':
      return false;
  }
}

/** A load or store of `reg` at `addr` (an expression), absolute or through esi/edi. */
export function accessLines(store: boolean, width: 1 | 4, addr: string, reg: Reg, viaBase: boolean): string[] {
  const base = reg === 'esi' ? 'edi' : 'esi';
  const lines = viaBase ? [ins(`mov ${base}, ${addr}`)] : [];
  const m = viaBase ? `[${base}]` : `[${addr}]`;
  if (store) lines.push(ins(width === 4 ? `mov ${m}, ${reg}` : `mov byte ${m}, ${BYTE_REG[reg]}`));
  else lines.push(ins(width === 4 ? `mov ${reg}, ${m}` : `movzx ${reg}, byte ${m}`));
  return lines;
}

export function renderMem(p: MemPiece, _ctx: Ctx): Emit {
  const addr = targetText(p.target);
  const lines = p.store ? [ins(`mov ${p.reg}, ${hex(p.value)}`)] : [];
  lines.push(...accessLines(p.store, p.width, addr, p.reg, p.viaBase));
  // A store straddling the end of RAM reads its word back: the bytes past RAM are open bus,
  // the store drops them and the load sees all ones (DESIGN §3.2). A VMM that maps that
  // gfn to some host frame (catalog: gpte-outside-ram-mapped) shows itself only so, as its
  // reads alone land on the all-ones frame it uses for open bus anyway.
  const readBack = p.store && p.target.area === 'ram-end' && straddles(p.target, p.width);
  if (readBack) lines.push(...accessLines(false, p.width, addr, p.reg, p.viaBase));
  const what = `${p.store ? 'store' : 'load'}${p.width === 1 ? ' byte' : ''}${readBack ? ' and load back' : ''}`;
  return { title: `${what} at ${addr}${straddles(p.target, p.width) ? ' (straddles)' : ''}`, lines };
}
