// fc.statistics-style tags (DESIGN §7: "report these with labels"): which hard cases a
// case contains. `labelsOf` reads the case alone; `runtimeLabels` reads a spec run's
// observation where only running tells — the guest really ran at ring 3, a fault really
// happened during delivery, an irq really arrived inside a cli/sti/popf/hlt piece.

import type { Observation, TraceEntry } from '../../spec/observation.ts';
import type { GuestCase } from './case.ts';
import { PD_A, PT_MMIO, V_DF, V_GP, V_NP, V_PF } from './layout.ts';
import type { Piece } from './pieces/index.ts';
import { straddles } from './pieces/memory.ts';
import type { UserPiece } from './pieces/user.ts';

/** Tags the generator must reach in at least 5 % of cases (properties/generators.test.ts). */
export const HARD_CASE_TAGS = [
  'paging',
  '4M-page',
  'alias',
  'recursive',
  'pt-edit-live',
  'cr3-switch',
  'wp-toggle',
  'invlpg',
  'user-mode',
  'straddle',
  'straddle-ram-end',
  'mmio',
  'console',
  'page-fault',
  'delivery-fault',
  'double-fault',
  'irq-around-cli-sti-popf-hlt',
  'sti-shadow',
  'hlt-wakeup',
  'host-events',
  'irq-delivered',
  'sensitive-unprivileged',
  'popf-cpl3',
  'priv-at-cpl>0',
  'invalid-encoding',
  'mode-change-live',
  'pt-edit-alias',
  'pt-edit-second-map',
  'pt-edit-paging-off',
] as const;

const accessesPlayOrBig = (p: Piece): boolean =>
  (p.kind === 'mem' && (p.target.area === 'play' || p.target.area === 'big')) ||
  p.kind === 'far-call' ||
  p.kind === 'loop' ||
  ((p.kind === 'pte-edit' || p.kind === 'pde-edit') && p.use !== null) ||
  (p.kind === 'cr3' && p.use !== null) ||
  (p.kind === 'user' && p.ops.some((o) => o.op === 'mem' && o.target === 'PLAY'));

const touchesBig = (p: Piece): boolean =>
  (p.kind === 'mem' && p.target.area === 'big') ||
  (p.kind === 'far-call' && p.target.via === 'big') ||
  (p.kind === 'pde-edit' && p.change.slot === 'big' && p.use !== null) ||
  (p.kind === 'mode' && p.target.area === 'big') ||
  (p.kind === 'alias-edit' && p.path === 'big');

const isPopfAtCpl3 = (p: Piece): boolean => p.kind === 'user' && p.ring === 3 && p.ops.some((o) => o.op === 'popf');

/** The property the shrinking test uses: the program contains a popf executed at cpl 3. */
export const hasPopfAtCpl3 = (c: GuestCase): boolean => c.pieces.some(isPopfAtCpl3);

/** An instruction that needs cpl 0 (or cpl ≤ IOPL) at an outer ring: #GP. */
const privilegedOuter = (p: UserPiece): boolean =>
  p.ops.some((o) => o.op === 'privileged' || o.op === 'hlt' || ((o.op === 'cli' || o.op === 'sti' || o.op === 'io') && p.iopl < p.ring));

/** Tags readable from the case itself. */
export function labelsOf(c: GuestCase): string[] {
  const { setup, pieces, events } = c;
  const tags = new Set<string>();
  const add = (t: string, when: boolean) => when && tags.add(t);
  const any = (f: (p: Piece) => boolean) => pieces.some(f);
  const paging =
    setup.paging ||
    any(
      (p) =>
        (p.kind === 'cr-toggle' && p.bit === 'pg' && p.on) ||
        (p.kind === 'mode' && p.bit === 'pg') ||
        (p.kind === 'alias-edit' && p.path === 'paging-off'),
    );
  const pse =
    setup.pse ||
    any(
      (p) =>
        (p.kind === 'cr-toggle' && p.bit === 'pse' && p.on) ||
        (p.kind === 'mode' && p.bit === 'pse') ||
        (p.kind === 'alias-edit' && p.install),
    );
  const anyBig =
    setup.spaces.A.big !== null ||
    setup.spaces.B.big !== null ||
    any(
      (p) =>
        (p.kind === 'pde-edit' && p.change.slot === 'big' && p.change.big !== null) ||
        ((p.kind === 'mode' || p.kind === 'alias-edit') && p.install),
    );

  add('paging', paging);
  add('4M-page', paging && pse && anyBig && any(touchesBig));
  // Two gvas for one frame, both in reach: every present playground entry maps a frame
  // the identity map maps too, and the 4 MiB page aliases all of RAM.
  add('alias', paging && any(accessesPlayOrBig));
  add(
    'recursive',
    paging &&
      (setup.spaces.A.recursive || setup.spaces.B.recursive) &&
      any((p) => (p.kind === 'mem' && p.target.area === 'rec') || (p.kind === 'pte-edit' && p.via === 'rec')),
  );
  add(
    'pt-edit-live',
    paging && any((p) => ((p.kind === 'pte-edit' || p.kind === 'pde-edit') && p.use !== null) || p.kind === 'alias-edit'),
  );
  // pieces/modes.ts: an edit through the 4 MiB alias (needs CR4.PSE and PDE 1, which the
  // piece may install), through a second 4 KiB mapping, or with paging off.
  const bigAlias = (s: 'A' | 'B') => setup.pse && setup.spaces[s].big !== null && !setup.spaces[s].big.rsvd;
  add(
    'pt-edit-alias',
    any((p) => p.kind === 'alias-edit' && p.path === 'big' && (p.install || bigAlias(p.load ? p.space : setup.startSpace))),
  );
  add(
    'pt-edit-second-map',
    any((p) => p.kind === 'alias-edit' && p.path === 'second'),
  );
  add(
    'pt-edit-paging-off',
    any((p) => p.kind === 'alias-edit' && p.path === 'paging-off'),
  );
  add(
    'mode-change-live',
    any((p) => p.kind === 'mode'),
  );
  add('cr3-switch', paging && any((p) => p.kind === 'cr3'));
  add(
    'wp-toggle',
    any((p) => (p.kind === 'cr-toggle' || p.kind === 'mode') && p.bit === 'wp'),
  );
  add(
    'pse-toggle',
    any((p) => (p.kind === 'cr-toggle' || p.kind === 'mode') && p.bit === 'pse'),
  );
  add(
    'paging-toggle',
    any((p) => (p.kind === 'cr-toggle' || p.kind === 'mode') && p.bit === 'pg'),
  );
  add(
    'invlpg',
    any((p) => p.kind === 'invlpg'),
  );
  add(
    'user-piece',
    any((p) => p.kind === 'user' && p.ring === 3),
  );
  add(
    'ring-1-2-piece',
    any((p) => p.kind === 'user' && p.ring !== 3),
  );
  add(
    'straddle',
    any((p) => p.kind === 'mem' && p.target.area !== 'ram-end' && straddles(p.target, p.width)),
  );
  add(
    'straddle-ram-end',
    any((p) => p.kind === 'mem' && p.target.area === 'ram-end' && straddles(p.target, p.width)),
  );
  add(
    'byte-access',
    any((p) => p.kind === 'mem' && p.width === 1),
  );
  add(
    'mmio',
    any((p) => p.kind === 'mmio'),
  );
  add(
    'console',
    any((p) => p.kind === 'port' && p.out && p.port === 0xe9),
  );
  add(
    'loop',
    any((p) => p.kind === 'loop'),
  );
  add(
    'fetch-through-window',
    any((p) => p.kind === 'far-call'),
  );
  add(
    'cli-sti-popf-hlt',
    any((p) => p.kind === 'iflag'),
  );
  add(
    'irq',
    events.some((e) => e.kind === 'irq'),
  );
  add(
    'host-events',
    events.some((e) => e.kind !== 'irq'),
  );
  // What the swap profile must reach: a page table or the code itself leaving its frame.
  const moved = events.flatMap((e) => (e.kind === 'swap-out' || e.kind === 'migrate' ? [e.gpa >>> 12] : []));
  add(
    'swap-of-table',
    moved.some((f) => f >= PD_A >>> 12 && f <= PT_MMIO >>> 12),
  );
  add(
    'swap-of-code',
    moved.some((f) => f <= 1),
  );
  add(
    'migrate',
    events.some((e) => e.kind === 'migrate'),
  );
  add(
    'evict-shadow',
    events.some((e) => e.kind === 'evict-shadow'),
  );
  add(
    'sensitive-unprivileged',
    any(
      (p) =>
        p.kind === 'sensitive' || (p.kind === 'user' && p.ops.some((o) => o.op === 'sensitive' || o.op === 'pushf' || o.op === 'popf')),
    ),
  );
  add('popf-cpl3', any(isPopfAtCpl3));
  add(
    'priv-at-cpl>0',
    any((p) => p.kind === 'user' && privilegedOuter(p)),
  );
  add(
    'invalid-encoding',
    any((p) => p.kind === 'invalid' || (p.kind === 'user' && p.ops.some((o) => o.op === 'ud2'))),
  );
  add(
    'self-modifying-code',
    any((p) => p.kind === 'smc'),
  );
  add(
    'delivery-fault-piece',
    any((p) => p.kind === 'delivery'),
  );
  add(
    'fatal-piece',
    any((p) => p.kind === 'delivery' && p.fault.f === 'fatal'),
  );
  return [...tags].sort();
}

type Range = [lo: number, hi: number];
const inRange = (v: number, [lo, hi]: Range) => v >= lo && v <= hi;

/** Tags only a run can tell, from the spec's observation and the program's symbols. */
export function runtimeLabels(c: GuestCase, obs: Observation): string[] {
  const sym = c.symbols;
  const at = (name: string): number => sym.get(name) ?? -1;
  const tags = new Set<string>();
  const add = (t: string, when: boolean) => when && tags.add(t);
  const handled = obs.trace.filter((e): e is Extract<TraceEntry, { vector: number }> => e.kind !== 'shutdown');
  const irqs = handled.filter((e) => e.kind === 'interrupt');

  // Code between pN_user and the instruction after its `int 0x80` runs at the piece's ring
  // (when its iret frame is well formed): an event saved there came from that ring.
  const ringRanges = (rings: number[]): Range[] =>
    c.pieces.flatMap((p, i) =>
      p.kind === 'user' && p.badFrame === 'none' && rings.includes(p.ring) ? [[at(`p${i}_user`), at(`p${i}_user_end`) + 8] as Range] : [],
    );
  const ring3 = ringRanges([3]);
  const ring12 = ringRanges([1, 2]);
  add(
    'user-mode',
    handled.some((e) => ring3.some((r) => inRange(e.eip, r))),
  );
  add(
    'ring-1-2-mode',
    handled.some((e) => ring12.some((r) => inRange(e.eip, r))),
  );

  // DESIGN §3.7: a #GP/#NP whose error code has the IDT bit (8v+2+EXT) is a gate fault.
  add(
    'delivery-fault',
    obs.status === 'shutdown' ||
      handled.some(
        (e) => e.vector === V_DF || ((e.vector === V_GP || e.vector === V_NP) && e.kind === 'exception' && ((e.errorCode ?? 0) & 2) !== 0),
      ),
  );
  add(
    'double-fault',
    handled.some((e) => e.vector === V_DF && e.kind === 'exception'),
  );
  add('triple-fault', obs.status === 'shutdown');
  const pfs = handled.filter((e) => e.vector === V_PF && e.kind === 'exception');
  add('page-fault', pfs.length > 0);
  add(
    'pf-user',
    pfs.some((e) => ((e.errorCode ?? 0) & 4) !== 0),
  );
  add(
    'pf-rsvd',
    pfs.some((e) => ((e.errorCode ?? 0) & 8) !== 0),
  );
  add('irq-delivered', irqs.length > 0);

  const iflagRanges: Range[] = c.pieces.flatMap((p, i) =>
    p.kind === 'iflag' || (p.kind === 'user' && p.ops.some((o) => o.op === 'popf' || o.op === 'cli' || o.op === 'sti' || o.op === 'hlt'))
      ? [[at(`p${i}`), at(`p${i}_end`)] as Range]
      : [],
  );
  add(
    'irq-around-cli-sti-popf-hlt',
    irqs.some((e) => iflagRanges.some((r) => inRange(e.eip, r))),
  );
  // An irq delivered right after the shadowed instruction: it waited out the STI shadow.
  const afterShadow = c.pieces.flatMap((p, i) => (p.kind === 'iflag' && p.shape.s === 'sti-shadow' ? [at(`p${i}_sti`) + 16] : []));
  add(
    'sti-shadow',
    irqs.some((e) => afterShadow.includes(e.eip)),
  );
  const afterHlt = c.pieces.flatMap((p, i) => (p.kind === 'iflag' && sym.has(`p${i}_hlt`) ? [at(`p${i}_hlt`) + 8] : []));
  add(
    'hlt-wakeup',
    irqs.some((e) => afterHlt.includes(e.eip)),
  );
  add(`status-${obs.status}`, true);
  add('body-completed', obs.eip >= at('body_end') && obs.eip <= at('idle') + 16);
  return [...tags].sort();
}
