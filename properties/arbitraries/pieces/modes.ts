// Mode changes under live mappings and page-table edits through every kind of mapping
// (DESIGN §3.5, §3.6, §6.1, §6.5): the cases a shadow MMU gets wrong when its shadow pages
// are not keyed on every mode bit they depend on, or when memory tracing misses one of the
// mappings of a table.
//
// `mode` uses an address, changes CR4.PSE, CR0.WP or CR0.PG without reloading CR3, uses
// the same address again, and (optionally) changes the bit back and uses it a third time:
// a shadow built under the old mode must not serve the new one (§6.1: the role holds
// CR0.WP and CR4.PSE; paging off runs on a physical-mode shadow, §6.7).
//
// `alias-edit` edits a playground PTE through a mapping other than the ones pte-edit
// uses: the 4 MiB alias of RAM at BIG, a second 4 KiB mapping of the table made by the
// piece itself, or by physical address with paging off (then paging on again) — and then
// accesses through the edited entry (no invlpg: §3.6).

import fc from 'fast-check';
import { PLAY_ENTRIES } from '../layout.ts';
import { pteSpecArb, pteText, type PteSpec, type SpaceName } from '../paging.ts';
import { hex, ins, note, regArb, type Ctx, type Emit, type Reg } from './common.ts';
import { accessLines, offArb } from './memory.ts';

/** Where a mode piece's access goes: chosen so that each mode bit changes its meaning. */
export type ModeTarget =
  /** Through the 4 MiB page of PDE 1 (PSE on) or the "table" the PDE names (PSE off). */
  | { area: 'big'; frame: 'DATA0' | 'DATA1' | 'F0' | 'F1'; off: number }
  /** A playground page: random permissions, a frame beyond RAM with paging off. */
  | { area: 'play'; entry: number; off: number }
  /** DATA1 through the identity map: random permissions (a supervisor store vs CR0.WP). */
  | { area: 'data1'; off: number };

export interface ModePiece {
  kind: 'mode';
  bit: 'pse' | 'wp' | 'pg';
  /** The bit's value for the first access; the second runs with the opposite value. */
  first: boolean;
  /** Change the bit back and access a third time. */
  back: boolean;
  /** PSE only: write a 4 MiB PDE 1 (onto 0, P RW US A D) into both directories first. */
  install: boolean;
  target: ModeTarget;
  store: boolean;
  reg: Reg;
}

export interface AliasEditPiece {
  kind: 'alias-edit';
  /** The address space whose playground table is edited (with `load`: the piece loads its CR3 first). */
  space: SpaceName;
  /**
   * `big`: through BIG + the table's gpa (a 4 MiB alias, DESIGN §3.5.2); `second`: a
   * playground entry `via` is made to map the table, and the edit goes through it;
   * `paging-off`: by physical address with CR0.PG clear, then CR0.PG set again.
   */
  path: 'big' | 'second' | 'paging-off';
  /** For `second`: the playground entry made to map the table (≠ entry). */
  via: number;
  /** For `big`: set CR4.PSE and write PDE 1 of the space (onto 0, P RW A D) first. */
  install: boolean;
  /** Load the space's CR3 first (else the edit is of whichever space is loaded). */
  load: boolean;
  /**
   * Before the edit, use the entry once so the VMM shadows the table and the entry — an
   * edit it then misses leaves a stale spte, not a late fill. `write` first stores a
   * present entry (F1, P RW US); `read` uses what is there.
   */
  prime: 'read' | 'write';
  entry: number;
  pte: PteSpec | null;
  use: { store: boolean; off: number; reg: Reg };
}

const targetArb: fc.Arbitrary<ModeTarget> = fc.oneof(
  fc.record({
    area: fc.constant('big' as const),
    frame: fc.constantFrom('DATA0' as const, 'DATA1' as const, 'F0' as const, 'F1' as const),
    off: offArb,
  }),
  fc.record({ area: fc.constant('play' as const), entry: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }), off: offArb }),
  fc.record({ area: fc.constant('data1' as const), off: offArb }),
);

export const modeArb: fc.Arbitrary<ModePiece> = fc
  .record({
    kind: fc.constant('mode' as const),
    bit: fc.constantFrom<'pse' | 'wp' | 'pg'>('wp', 'pse', 'pg'),
    first: fc.boolean(),
    back: fc.boolean(),
    install: fc.boolean(),
    target: targetArb,
    store: fc.boolean(),
    reg: regArb,
  })
  // Each bit meets the target that shows it: PSE the 4 MiB window, WP a supervisor store.
  .map((p) => ({
    ...p,
    target: p.bit === 'pse' && p.target.area !== 'big' ? { area: 'big' as const, frame: 'DATA0' as const, off: p.target.off } : p.target,
    store: p.bit === 'wp' ? true : p.store,
    install: p.bit === 'pse' && p.install,
  }));

/** `long` `weight` times as often as `short`, shrinking to `short` (the shorter piece). */
const shortFirst = <T>(short: T, long: T, weight: number): fc.Arbitrary<T> =>
  fc.oneof({ withCrossShrink: true }, { weight: 1, arbitrary: fc.constant(short) }, { weight, arbitrary: fc.constant(long) });

export const aliasEditArb: fc.Arbitrary<AliasEditPiece> = fc
  .record({
    kind: fc.constant('alias-edit' as const),
    space: fc.constantFrom<SpaceName>('A', 'B'),
    // One path in three each (issue 20 item 7: each reached in ≥ 5 % of cases); the alias
    // also needs CR4.PSE and a 4 MiB PDE 1, so its installation is drawn more often.
    path: fc.constantFrom('big' as const, 'second' as const, 'paging-off' as const),
    via: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }),
    install: shortFirst(false, true, 2),
    load: shortFirst(false, true, 3),
    prime: shortFirst('read' as const, 'write' as const, 2),
    entry: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }),
    pte: fc.option(pteSpecArb, { freq: 6 }),
    use: fc.record({ store: fc.boolean(), off: offArb, reg: regArb }),
  })
  .map((p) => ({ ...p, via: p.via === p.entry ? (p.entry + 1) % PLAY_ENTRIES : p.via, install: p.path === 'big' && p.install }));

const CR_OF = { pse: ['cr4', 'CR4_PSE'], wp: ['cr0', 'CR0_WP'], pg: ['cr0', 'CR0_PG'] } as const;

/** Set or clear one control-register bit, nothing else (no CR3 reload). */
function setBit(bit: 'pse' | 'wp' | 'pg', on: boolean): string[] {
  // CR4 has no other bit (DESIGN §3.1): write it whole.
  if (bit === 'pse') return [ins(`mov eax, ${on ? 'CR4_PSE' : '0'}`), ins('mov cr4, eax')];
  const [cr, name] = CR_OF[bit];
  return [ins(`mov eax, ${cr}`), ins(on ? `or eax, ${name}` : `and eax, ~${name}`), ins(`mov ${cr}, eax`)];
}

function modeTargetText(t: ModeTarget): string {
  switch (t.area) {
    case 'big':
      return `BIG + ${t.frame} + ${hex(t.off)}`;
    case 'play':
      return `PLAY + ${hex(t.entry * 0x1000)} + ${hex(t.off)}`;
    case 'data1':
      return `DATA1 + ${hex(t.off)}`;
  }
}

export function renderMode(p: ModePiece, _ctx: Ctx): Emit {
  const addr = modeTargetText(p.target);
  const use = (): string[] => [
    ...(p.store ? [ins(`mov ${p.reg}, 0x${p.bit === 'wp' ? 'B0' : 'A5'}5E`)] : []),
    ...accessLines(p.store, 4, addr, p.reg, false),
  ];
  const [, name] = CR_OF[p.bit];
  const lines = [
    ...(p.install
      ? [ins('mov eax, 0 | PS | P | RW | US | A | D'), ins('mov [PD_A + 4], eax', 'PDE 1: a 4 MiB page onto 0'), ins('mov [PD_B + 4], eax')]
      : []),
    ...setBit(p.bit, p.first),
    ...use(),
    note(`${name} ${p.first ? 'off' : 'on'}, CR3 not reloaded: the same address again`),
    ...setBit(p.bit, !p.first),
    ...use(),
    ...(p.back ? [...setBit(p.bit, p.first), ...use()] : []),
  ];
  return {
    title: `${p.store ? 'store' : 'load'} at ${addr} with ${name} = ${+p.first}, then ${+!p.first}${p.back ? `, then ${+p.first}` : ''}`,
    lines,
  };
}

export function renderAliasEdit(p: AliasEditPiece, { setup }: Ctx): Emit {
  const u = p.use;
  // Without its own CR3 load the piece edits the space the setup starts in (the one a
  // shrunk, single-piece case runs in).
  const space = p.load ? p.space : setup.startSpace;
  const pt = `PT_PLAY_${space}`;
  const value = pteText(p.pte, space);
  const slot = `4 * ${p.entry}`;
  const edit: string[] = (() => {
    switch (p.path) {
      case 'big':
        return [ins(`mov eax, ${value}`), ins(`mov [BIG + ${pt} + ${slot}], eax`, 'through the 4 MiB alias of RAM')];
      case 'second':
        return [
          ins(`mov eax, ${pt} | P | RW`),
          ins(`mov [${pt} + 4 * ${p.via}], eax`, `PLAY + ${hex(p.via * 0x1000)} maps the table itself`),
          ins(`mov eax, ${value}`),
          ins(`mov [PLAY + ${hex(p.via * 0x1000)} + ${slot}], eax`, 'through that second 4 KiB mapping'),
        ];
      case 'paging-off':
        return [
          ins('mov ecx, cr0'),
          ins('and ecx, ~CR0_PG'),
          ins('mov cr0, ecx', 'paging off, CR3 kept'),
          ins(`mov eax, ${value}`),
          ins(`mov [${pt} + ${slot}], eax`, 'by physical address'),
          ins('or ecx, CR0_PG'),
          ins('mov cr0, ecx', 'paging on again'),
        ];
    }
  })();
  return {
    title: `edit PTE ${p.entry} of playground ${space} ${p.path === 'big' ? 'through the 4 MiB alias' : p.path === 'second' ? 'through a second 4 KiB mapping' : 'with paging off'}, then use it`,
    lines: [
      ...(p.load ? [ins(`mov eax, PD_${p.space}`), ins('mov cr3, eax')] : []),
      // The alias first: the prime must run under the paging mode (CR4.PSE) of the edit.
      ...(p.install
        ? [...setBit('pse', true), ins('mov eax, 0 | PS | P | RW | A | D'), ins(`mov [PD_${space} + 4], eax`, 'PDE 1: a 4 MiB page onto 0')]
        : []),
      ...(p.prime === 'write' ? [ins('mov eax, F1 | P | RW | US'), ins(`mov [${pt} + ${slot}], eax`)] : []),
      ins(`mov ${u.reg}, [PLAY + ${hex(p.entry * 0x1000)} + ${hex(u.off)}]`, 'the VMM shadows the table and this entry'),
      ...edit,
      ...(u.store ? [ins(`mov ${u.reg}, 0x600D`)] : []),
      ...accessLines(u.store, 4, `PLAY + ${hex(p.entry * 0x1000)} + ${hex(u.off)}`, u.reg, false),
    ],
  };
}
