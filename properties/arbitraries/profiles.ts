// Guest profiles (`popek check --guests P`): the generated guests restricted to one stage
// of building a VMM, so a VMM under construction is checked on what it already claims to
// do, and each stage still reaches its own hard cases (`popek check --stats --guests P`).
//
// - physical: paging off from reset to the end (DESIGN §3.5: linear = physical); the
//   exit loop, shadow EFLAGS, events and rings, no page tables.
// - paging:   paging on, static tables (no piece and no store of the body ever writes a
//   page-table entry; the walks set A/D), CR3 switches, CR0.WP/CR4.PSE/CR0.PG changes.
// - tracing:  live table edits through every path (DESIGN §3.6, §6.5) and mode changes
//   under live mappings (§6.1).
// - swap:     every piece, with host-only events (swap-out, migrate, evict-shadow,
//   reclaim, flush, switch) in every case (§3.8, §6.8).
// - mmio:     the device window and ports (§3.2, §6.9), paging on or off.
// - x86:      what VX32 and IA-32 mean the same (DESIGN §3: IA-32 is the default where
//   VX32 is silent). Excluded, each because IA-32 leaves it open or means something else:
//   (1) TLB staleness — IA-32 may use a stale translation after a table edit until invlpg
//       or a CR3/CR0/CR4 write, VX32 has no TLB (§3.6): no piece edits a live table and
//       no playground entry maps a table (ordinary stores would be edits);
//   (2) A bits on a faulting walk — IA-32 may set A in the entries it used before the
//       fault (§3.5.5): every entry has A set from the start;
//   (3) PSE-36 — bits 13–20 of a 4 MiB PDE are address bits there, reserved in VX32
//       (§3.5.2): no 4 MiB PDE has them;
//   (4) shifts by more than 1 — IA-32 leaves OF undefined for every count > 1 (SDM vol. 2,
//       SAL/SAR/SHL/SHR), VX32 defines it (§3.4): counts are 0 or 1;
//   (5) the platform — the MMIO device, open bus beyond RAM and IA-32's other gate kinds
//       (16-bit, task) and code selectors are machine, not architecture: no MMIO, no
//       access beyond RAM (x86Fit: what a piece addresses is chosen knowing whether
//       paging is on where it runs), no gate broken by its selector.
// - all:      everything (the default).

import fc from 'fast-check';
import { eventSpecArb, gpaArb, irqVectorArb, whenArb, type EventSpec, type EventWhat } from './events.ts';
import { FRAME_REFS, type FrameRef, type PteSpec, type SpaceSetup } from './paging.ts';
import { DEFAULT_WEIGHTS, piecesOf, type Piece, type PieceWeights } from './pieces/index.ts';
import { setupArb, type Setup } from './setup.ts';

export const GUEST_PROFILES = ['all', 'physical', 'paging', 'tracing', 'swap', 'mmio', 'x86'] as const;
export type GuestProfile = (typeof GUEST_PROFILES)[number];

export const isGuestProfile = (s: string): s is GuestProfile => (GUEST_PROFILES as readonly string[]).includes(s);

export interface ProfileDef {
  summary: string;
  setup: fc.Arbitrary<Setup>;
  piece: fc.Arbitrary<Piece>;
  /** The schedule: event specs, shrinking toward none (or toward the one a profile requires). */
  events: fc.Arbitrary<EventSpec[]>;
  /** The tags `--stats` must show in ≥ 5 % of this profile's cases (properties/generators.test.ts). */
  hard: readonly string[];
  /** A last pass over the body, knowing the setup and each piece's predecessors (x86: x86Fit). */
  fit?: (setup: Setup, pieces: Piece[]) => Piece[];
}

// ---- setups ----------------------------------------------------------------------------

/** Replace every playground frame `from` names by `to(frame)`. */
function mapFrames(s: Setup, to: (f: FrameRef) => FrameRef): Setup {
  const space = (sp: SpaceSetup): SpaceSetup => ({ ...sp, play: sp.play.map((e) => (e === null ? null : { ...e, frame: to(e.frame) })) });
  return { ...s, spaces: { A: space(s.spaces.A), B: space(s.spaces.B) } };
}

/** No playground entry maps a table (OWN_PT, OWN_PD): ordinary stores never edit one. */
const noTableFrames = (f: FrameRef): FrameRef => (f === 'OWN_PT' ? 'F2' : f === 'OWN_PD' ? 'F3' : f);

/** x86: also no frame beyond RAM and no MMIO (platform, not architecture). */
const x86Frames = (f: FrameRef): FrameRef => (f === 'BEYOND' ? 'F0' : f === 'MMIO' ? 'DATA0' : noTableFrames(f));

/** Every entry with A set (x86 exclusion 2) and no reserved bit in a 4 MiB PDE (exclusion 3). */
function allAccessed(s: Setup): Setup {
  const space = (sp: SpaceSetup): SpaceSetup => ({
    ...sp,
    big: sp.big === null ? null : { ...sp.big, a: true, rsvd: false },
    playPde: { ...sp.playPde, a: true },
    play: sp.play.map((e): PteSpec | null => (e === null ? null : { ...e, a: true })),
  });
  return { ...s, presetAD: true, data1: { ...s.data1, a: true }, spaces: { A: space(s.spaces.A), B: space(s.spaces.B) } };
}

// ---- pieces ----------------------------------------------------------------------------

const without = (w: PieceWeights, ...kinds: (keyof PieceWeights)[]): PieceWeights =>
  Object.fromEntries(Object.entries(w).filter(([k]) => !kinds.includes(k as keyof PieceWeights)));

/** Pieces that write page-table entries on purpose. */
const TABLE_EDITS = ['pte-edit', 'pde-edit', 'alias-edit'] as const;
/** Pieces whose accesses only mean something with paging on. */
const PAGING_PIECES = [...TABLE_EDITS, 'cr3', 'cr-toggle', 'invlpg', 'mode'] as const;

/** Static tables: a piece that could still write an entry is turned into one that cannot. */
function staticTables(p: Piece): Piece {
  switch (p.kind) {
    case 'mem':
      // BIG + PT_PLAY_x is a table seen through the 4 MiB alias: load it, never store.
      return p.target.area === 'big' && p.target.frame.startsWith('PT_') ? { ...p, store: false } : p;
    case 'mode':
      return { ...p, install: false };
    default:
      return p;
  }
}

/** IA-32 names ah ch dh bh where VX32's byte stores name spl bpl sil dil (docs/qemu.md `byte-store-high`). */
const LOW_BYTE_REGS: readonly string[] = ['eax', 'ebx', 'ecx', 'edx'];

/**
 * x86: inside the subset IA-32 means the same (the header's exclusions), and inside what
 * the translation to IA-32 expresses (docs/qemu.md, limits): no pushf (IA-32 pushes PF
 * and AF), no in and no out but `out 0xE9, eax`, byte stores from al bl cl dl only, no
 * exception raised while its own gate is broken (QEMU's EXT bit: `ext-bit`), no `mov cr0`
 * of a value VX32 refuses (IA-32 would leave protected mode: the triple fault through the
 * #DF gate is reached from an unmapped ESP0 instead). Self-modifying code and
 * irqs are left out by the weights and the schedule.
 */
function x86Piece(p: Piece): Piece {
  const q = staticTables(p);
  switch (q.kind) {
    case 'alu':
      return {
        ...q,
        captureFlags: false,
        operation: q.operation.form === 'shift' && q.operation.count > 1 ? { ...q.operation, count: 1 } : q.operation,
      };
    case 'mem': {
      const m: typeof q = q.target.area === 'ram-end' ? { ...q, target: { area: 'data', page: 0, off: 0x100 - 4 * q.target.back } } : q;
      return m.store && m.width === 1 && !LOW_BYTE_REGS.includes(m.reg) ? { ...m, reg: 'ebx' as const } : m;
    }
    case 'delivery':
      if (q.fault.f === 'nested') return { ...q, fault: { f: 'gate', vector: 0x21, breakage: 'not-present', trigger: 'int' } };
      // df-gate raises its #GP with `mov cr0` of 0, which IA-32 takes (real mode).
      if (q.fault.f === 'fatal' && q.fault.how === 'df-gate') return { ...q, fault: { f: 'fatal', how: 'esp0-unmapped' } };
      return 'breakage' in q.fault && q.fault.breakage === 'bad-selector' ? { ...q, fault: { ...q.fault, breakage: 'not-present' } } : q;
    case 'sensitive':
      return q.what === 'pushf' ? { ...q, what: 'movcs' } : q;
    case 'port':
      return { ...q, port: 0xe9, out: true };
    case 'user':
      return {
        ...q,
        // A word stored at KSTACK + 0xffd… straddles into PD_A, the next page: a live table edit (exclusion 1).
        ops: q.ops.map((o) =>
          o.op === 'pushf'
            ? { op: 'sensitive', what: 'movcs' }
            : o.op === 'io'
              ? { ...o, port: 0xe9, out: true }
              : o.op === 'mem' && o.store && o.target === 'KSTACK' && o.off > 0xffc
                ? { ...o, off: 0xffc }
                : o,
        ),
      };
    case 'loop':
      return q.body === 'pushf-pop' ? { ...q, body: 'add' } : q;
    case 'iflag':
      return q.shape.s === 'popf-if' ? { ...q, shape: { s: 'popf-image', image: q.shape.set ? 0x202 : 0x2 } } : q;
    default:
      return q;
  }
}

/** The machine state a piece starts in, as far as x86Fit needs it. */
interface FitState {
  paging: boolean;
  pse: boolean;
  space: 'A' | 'B';
}

/**
 * x86, platform (5): no access beyond RAM, knowing the state each piece starts in. With
 * paging off, PLAY, BIG and the recursive window are physical addresses beyond RAM (open
 * bus on VX32, a PC's memory map on IA-32); with paging on and CR4.PSE off, a present
 * PDE 1 is a page table at frame 0, which is code (IA-32 runs translated bytes there:
 * docs/qemu.md `data-as-code`). Such an access goes to DATA0/DATA1 or a playground page
 * instead (same width, offset, store or load, so straddles and faults stay); a word at
 * 0xFFFFFFFE, which wraps onto the code at 0 or lies beyond RAM, becomes a word
 * straddling DATA0 and DATA1. The piece kinds and their share of the body do not change.
 */
function fitX86Piece(p: Piece, st: FitState, bigIsTable: boolean): Piece {
  const off = !st.paging; // PLAY, BIG, REC are beyond RAM
  const badArea = (area: string) => (off && (area === 'play' || area === 'big' || area === 'rec')) || (bigIsTable && area === 'big');
  switch (p.kind) {
    case 'mem': {
      const t = p.target;
      if (t.area === 'wrap') return { ...p, target: { area: 'data', page: 0, off: 0xffe } };
      if (!badArea(t.area)) return p;
      if (!off && t.area === 'big') return { ...p, target: { area: 'play', entry: 1, off: t.off } };
      const page = t.area === 'play' ? ((t.entry & 1) as 0 | 1) : 0;
      return { ...p, target: { area: 'data', page, off: t.area === 'rec' ? 4 * (t.index & 0x3ff) : t.area === 'ram-end' ? 0x100 : t.off } };
    }
    case 'loop':
      return off && p.body !== 'add' ? { ...p, body: 'add' } : p;
    case 'cr3':
      return off ? { ...p, use: null } : p;
    case 'far-call':
      if (off) return { kind: 'call', reg: 'ebx', value: 0, indirect: true };
      return bigIsTable && p.target.via === 'big' ? { ...p, target: { via: 'play', entry: 1 } } : p;
    case 'user':
      return off ? { ...p, ops: p.ops.map((o) => (o.op === 'mem' && o.target === 'PLAY' ? { ...o, target: 'DATA0' as const } : o)) } : p;
    case 'delivery':
      // ESP0 in the playground: beyond RAM with paging off, where the push cannot fault.
      return off && p.fault.f === 'fatal' ? { ...p, fault: { f: 'gate', vector: 0x21, breakage: 'not-present', trigger: 'int' } } : p;
    case 'mode': {
      // One of its accesses runs with paging off (pg, or paging off already), or through PDE 1 as a table (pse off).
      const t = p.target;
      if (t.area === 'data1') return p;
      const bad = p.bit === 'pg' || off || (t.area === 'big' && (p.bit === 'pse' || !st.pse));
      return bad ? { ...p, target: { area: 'data1', off: t.off } } : p;
    }
    default:
      return p;
  }
}

/** x86Piece's last pass: fitX86Piece for each piece in the state its predecessors leave. */
function x86Fit(setup: Setup, pieces: Piece[]): Piece[] {
  const st: FitState = { paging: setup.paging, pse: setup.pse, space: setup.startSpace };
  return pieces.map((p) => {
    const q = fitX86Piece(p, st, st.paging && !st.pse && setup.spaces[st.space].big !== null);
    if (q.kind === 'cr-toggle' && q.bit === 'pg') st.paging = q.on;
    if (q.kind === 'cr-toggle' && q.bit === 'pse') st.pse = q.on;
    if (q.kind === 'mode' && q.bit !== 'wp') st[q.bit === 'pg' ? 'paging' : 'pse'] = q.back ? q.first : !q.first;
    if (q.kind === 'cr3') st.space = q.to;
    return q;
  });
}

// ---- events ----------------------------------------------------------------------------

const irqWhat: fc.Arbitrary<EventWhat> = fc.record({ kind: fc.constant('irq' as const), vector: irqVectorArb });
const irqOnly: fc.Arbitrary<EventSpec> = fc.record({ when: whenArb, what: irqWhat });

/** Mostly swap-out and migrate, then shadow eviction and reclaim; a few irqs and the rest. */
const hostHeavy: fc.Arbitrary<EventWhat> = fc.oneof(
  { weight: 2, arbitrary: irqWhat },
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('swap-out' as const, 'migrate' as const), gpa: gpaArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('evict-shadow' as const), count: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reclaim' as const), frames: fc.integer({ min: 1, max: 32 }) }) },
  { weight: 1, arbitrary: fc.constantFrom<EventWhat>({ kind: 'flush-tlb' }, { kind: 'switch-vm' }) },
);

const scheduleOf = (spec: fc.Arbitrary<EventSpec>, maxLength: number): fc.Arbitrary<EventSpec[]> =>
  fc.array(spec, { maxLength, size: 'medium' });

/** At least one host-only event, then any. */
const hostOnlySpec: fc.Arbitrary<EventSpec> = fc.record({ when: whenArb, what: hostHeavy.filter((w) => w.kind !== 'irq') });
const withHostEvent = (maxLength: number): fc.Arbitrary<EventSpec[]> =>
  fc.tuple(hostOnlySpec, scheduleOf(fc.record({ when: whenArb, what: hostHeavy }), maxLength - 1)).map(([first, rest]) => [first, ...rest]);

// ---- the profiles ----------------------------------------------------------------------

const COMMON_HARD = ['irq-delivered', 'page-fault'] as const;

export const PROFILES: Readonly<Record<GuestProfile, ProfileDef>> = {
  all: {
    summary: 'everything (default)',
    setup: setupArb,
    piece: piecesOf(DEFAULT_WEIGHTS),
    events: scheduleOf(eventSpecArb, 10),
    hard: ['mode-change-live', 'pt-edit-alias', 'pt-edit-second-map', 'pt-edit-paging-off'],
  },
  physical: {
    summary: 'paging off throughout: the exit loop, shadow EFLAGS, events, rings',
    setup: setupArb.map((s) => ({ ...s, paging: false })),
    piece: piecesOf(without(DEFAULT_WEIGHTS, ...PAGING_PIECES, 'mmio')),
    events: scheduleOf(irqOnly, 10),
    hard: ['user-mode', 'irq-around-cli-sti-popf-hlt', 'sti-shadow', 'popf-cpl3', 'delivery-fault', 'irq-delivered'],
  },
  paging: {
    summary: 'paging on, static tables, CR3 switches and mode changes',
    setup: setupArb.map((s) => mapFrames({ ...s, paging: true }, noTableFrames)),
    piece: piecesOf({ ...without(DEFAULT_WEIGHTS, ...TABLE_EDITS, 'mmio'), cr3: 6, mode: 3, user: 10 }).map(staticTables),
    events: scheduleOf(irqOnly, 8),
    hard: ['cr3-switch', 'alias', '4M-page', 'mode-change-live', 'pf-user', ...COMMON_HARD],
  },
  tracing: {
    summary: 'live page-table edits through every mapping, mode changes under live mappings',
    setup: setupArb.map((s) => ({ ...s, paging: true })),
    piece: piecesOf({ ...without(DEFAULT_WEIGHTS, 'mmio', 'port', 'delivery'), 'pte-edit': 9, 'pde-edit': 4, 'alias-edit': 7, mode: 5 }),
    events: scheduleOf(irqOnly, 6),
    hard: ['pt-edit-live', 'pt-edit-alias', 'pt-edit-second-map', 'pt-edit-paging-off', 'mode-change-live', 'recursive', ...COMMON_HARD],
  },
  swap: {
    summary: 'every piece, with host-only events (swap-out, migrate, evict-shadow, reclaim) in every case',
    setup: setupArb,
    piece: piecesOf(DEFAULT_WEIGHTS),
    events: withHostEvent(14),
    hard: ['host-events', 'swap-of-table', 'swap-of-code', 'evict-shadow', 'migrate'],
  },
  mmio: {
    summary: 'the MMIO device and ports, paging on or off',
    setup: fc.tuple(setupArb, fc.boolean()).map(([s, paging]) => ({ ...s, paging })),
    piece: piecesOf({ mmio: 10, port: 4, mem: 4, alu: 2, iflag: 2, 'cr-toggle': 2, user: 2 }),
    events: scheduleOf(eventSpecArb, 6),
    hard: ['mmio', 'console', 'paging'],
  },
  x86: {
    summary: 'what VX32 and IA-32 mean the same (no TLB staleness, A preset, no PSE-36 bits, shifts by 0 or 1, no platform devices)',
    setup: setupArb.map((s) => allAccessed(mapFrames(s, x86Frames))),
    piece: piecesOf(without(DEFAULT_WEIGHTS, ...TABLE_EDITS, 'mmio', 'smc')).map(x86Piece),
    events: fc.constant([]),
    hard: ['paging', 'cr3-switch', 'user-mode', 'page-fault', 'delivery-fault'],
    fit: x86Fit,
  },
};

/** Frames a profile's playground may map (for its documentation and tests). */
export const framesOf = (profile: GuestProfile): readonly FrameRef[] =>
  profile === 'x86'
    ? FRAME_REFS.filter((f) => x86Frames(f) === f)
    : profile === 'paging'
      ? FRAME_REFS.filter((f) => noTableFrames(f) === f)
      : FRAME_REFS;
