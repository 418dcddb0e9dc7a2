// Paging pieces (DESIGN §3.5, §3.6): the guest edits its own live page tables — a PTE or a
// PDE, through its physical address or through the recursive window — and then accesses
// through the entry it just wrote, with no invlpg (VX32 has no TLB: the next access sees
// the new entry, §3.6). Also `mov cr3` between the two address spaces, CR0.WP and
// CR4.PSE toggles, paging itself on and off, and invlpg (no architectural effect, §3.4).

import fc from 'fast-check';
import { PLAY_ENTRIES } from '../layout.ts';
import { bigPdeText, permArb, permText, pteSpecArb, pteText, type BigPage, type Perm, type PteSpec, type SpaceName } from '../paging.ts';
import { hex, ins, mostly, regArb, type Ctx, type Emit, type Reg } from './common.ts';
import { accessLines, offArb } from './memory.ts';

const spaceArb: fc.Arbitrary<SpaceName> = fc.constantFrom<SpaceName>('A', 'B');

/** The access made right after an edit, through the entry that changed. */
export interface Use {
  store: boolean;
  off: number;
  reg: Reg;
}
const useArb: fc.Arbitrary<Use | null> = mostly<Use | null>(
  { store: false, off: 0x40, reg: 'ebx' },
  fc.option(fc.record({ store: fc.boolean(), off: offArb, reg: regArb }), { freq: 5 }),
  1,
);

export interface PteEditPiece {
  kind: 'pte-edit';
  /** Which playground table, and through which address: its frame, or the recursive window of the loaded space. */
  via: 'A' | 'B' | 'rec';
  entry: number;
  pte: PteSpec | null;
  use: Use | null;
}

export interface PdeEditPiece {
  kind: 'pde-edit';
  space: SpaceName;
  change: { slot: 'big'; big: BigPage | null } | { slot: 'play'; perm: Perm | null };
  use: Use | null;
}

export interface Cr3Piece {
  kind: 'cr3';
  to: SpaceName;
  use: { entry: number; use: Use } | null;
}

export interface CrTogglePiece {
  kind: 'cr-toggle';
  /** CR0.WP, CR4.PSE or CR0.PG; `on` sets, else clears (DESIGN §3.5: effective at the next access). */
  bit: 'wp' | 'pse' | 'pg';
  on: boolean;
}

export interface InvlpgPiece {
  kind: 'invlpg';
  entry: number;
  viaBase: boolean;
}

export const pteEditArb: fc.Arbitrary<PteEditPiece> = fc.record({
  kind: fc.constant('pte-edit' as const),
  via: fc.constantFrom<'A' | 'B' | 'rec'>('A', 'rec', 'B'),
  entry: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }),
  pte: fc.option(pteSpecArb, { freq: 4 }),
  use: useArb,
});

const bigArb: fc.Arbitrary<BigPage | null> = fc.option(
  fc.tuple(permArb, fc.boolean()).map(([p, r]) => ({ ...p, rsvd: r && p.a })),
  { freq: 3 },
);

export const pdeEditArb: fc.Arbitrary<PdeEditPiece> = fc.record({
  kind: fc.constant('pde-edit' as const),
  space: spaceArb,
  change: fc.oneof(
    fc.record({ slot: fc.constant('play' as const), perm: fc.option(permArb, { freq: 3 }) }),
    fc.record({ slot: fc.constant('big' as const), big: bigArb }),
  ),
  use: useArb,
});

export const cr3Arb: fc.Arbitrary<Cr3Piece> = fc.record({
  kind: fc.constant('cr3' as const),
  to: spaceArb,
  use: fc.option(
    fc.record({ entry: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }), use: fc.record({ store: fc.boolean(), off: offArb, reg: regArb }) }),
    { freq: 2 },
  ),
});

export const crToggleArb: fc.Arbitrary<CrTogglePiece> = fc.record({
  kind: fc.constant('cr-toggle' as const),
  bit: fc.oneof(
    { weight: 3, arbitrary: fc.constant('wp' as const) },
    { weight: 2, arbitrary: fc.constant('pse' as const) },
    { weight: 1, arbitrary: fc.constant('pg' as const) },
  ),
  on: fc.boolean(),
});

export const invlpgArb: fc.Arbitrary<InvlpgPiece> = fc.record({
  kind: fc.constant('invlpg' as const),
  entry: fc.integer({ min: 0, max: PLAY_ENTRIES }),
  viaBase: fc.boolean(),
});

const useLines = (use: Use | null, addr: (off: number) => string): string[] =>
  use === null ? [] : [...(use.store ? [ins(`mov ${use.reg}, 0x600D`)] : []), ...accessLines(use.store, 4, addr(use.off), use.reg, false)];

export function renderPteEdit(p: PteEditPiece, { setup }: Ctx): Emit {
  const space: SpaceName = p.via === 'rec' ? setup.startSpace : p.via;
  const where = p.via === 'rec' ? `REC + 0x2000 + 4 * ${p.entry}` : `PT_PLAY_${p.via} + 4 * ${p.entry}`;
  const value = pteText(p.pte, space);
  return {
    title: `edit live PTE ${p.entry} of ${p.via === 'rec' ? 'the loaded playground through the recursive window' : `playground ${p.via}`}, then use it (no invlpg: §3.6)`,
    lines: [
      ins(`mov eax, ${value}`),
      ins(`mov [${where}], eax`),
      ...useLines(p.use, (off) => `PLAY + ${hex(p.entry * 0x1000)} + ${hex(off)}`),
    ],
  };
}

export function renderPdeEdit(p: PdeEditPiece, _ctx: Ctx): Emit {
  const pd = `PD_${p.space}`;
  const c = p.change;
  const [slot, value, window] =
    c.slot === 'big'
      ? [1, c.big ? bigPdeText(c.big) : '0', 'BIG + DATA0']
      : [2, c.perm ? `PT_PLAY_${p.space} | ${permText(c.perm)}` : '0', 'PLAY'];
  return {
    title: `edit live PDE ${slot} of space ${p.space}, then use it`,
    lines: [ins(`mov eax, ${value}`), ins(`mov [${pd} + 4 * ${slot}], eax`), ...useLines(p.use, (off) => `${window} + ${hex(off)}`)],
  };
}

export function renderCr3(p: Cr3Piece, _ctx: Ctx): Emit {
  const u = p.use;
  return {
    title: `mov cr3 → address space ${p.to}`,
    lines: [
      ins(`mov eax, PD_${p.to}`),
      ins('mov cr3, eax'),
      ...(u ? useLines(u.use, (off) => `PLAY + ${hex(u.entry * 0x1000)} + ${hex(off)}`) : []),
    ],
  };
}

export function renderCrToggle(p: CrTogglePiece, _ctx: Ctx): Emit {
  const [cr, bit] = p.bit === 'pse' ? ['cr4', 'CR4_PSE'] : p.bit === 'wp' ? ['cr0', 'CR0_WP'] : ['cr0', 'CR0_PG'];
  const lines = [ins(`mov eax, ${cr}`), ins(p.on ? `or eax, ${bit}` : `and eax, ~${bit}`), ins(`mov ${cr}, eax`)];
  // Turning paging on needs no more: the prologue loaded CR3 even with paging off.
  if (p.bit === 'wp') lines.push(ins('mov [DATA1 + 0x80], eax', 'a supervisor write: faults on a read-only page iff WP'));
  return { title: `${p.on ? 'set' : 'clear'} ${bit}`, lines };
}

export function renderInvlpg(p: InvlpgPiece, _ctx: Ctx): Emit {
  const addr = `PLAY + ${hex(p.entry * 0x1000)}`;
  return { title: `invlpg ${addr}`, lines: p.viaBase ? [ins(`mov esi, ${addr}`), ins('invlpg [esi + 0x10]')] : [ins(`invlpg [${addr}]`)] };
}
