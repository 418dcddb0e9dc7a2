// The test case of the lockstep differential suite: a setup, a body of independent
// pieces, and a schedule of host events (DESIGN §3.8, §7). `caseArb` draws the raw parts
// and maps them to a GuestCase; fast-check shrinks the raw parts (drops pieces and events,
// simplifies their fields) and re-maps, so a shrunk case is still a complete program whose
// events are re-anchored to the pieces that remain.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { HostEvent, Image } from '../../spec/observation.ts';
import { anchorPiece, eventAt, type EventSpec } from './events.ts';
import type { Piece } from './pieces/index.ts';
import { PROFILES, type GuestProfile } from './profiles.ts';
import { layoutBody, render } from './render.ts';
import type { Setup } from './setup.ts';

export interface GuestCase {
  setup: Setup;
  pieces: Piece[];
  /** Concrete, in the order drawn (equal `at` fire in this order, DESIGN §3.10.8). */
  events: HostEvent[];
  ramBytes: number;
  maxSteps: number;
  /**
   * The program assembled, as resolveSchedule already had to: the header comment is all
   * that render(c) adds to what was assembled, so every run reuses it (issue 15.3).
   */
  image: Image;
  /** Its symbols (`pN`, `pN_user`, `body_end`…), for the labels a run can tell (labels.ts). */
  symbols: ReadonlyMap<string, number>;
}

/** DESIGN §7 targets ≪ 10 ms per lockstep run: a few hundred to 2000 steps. */
export const MIN_STEPS = 256;
export const MAX_STEPS = 2000;

export interface CaseOptions {
  maxPieces?: number;
  maxEvents?: number;
  /** The stage the guests are restricted to (profiles.ts; default `all`). */
  profile?: GuestProfile;
}

/** Pieces where an irq is most interesting: cli/sti/popf/hlt, and rings with popf, cli or sti. */
function iflagPieces(pieces: readonly Piece[]): number[] {
  return pieces.flatMap((p, i) =>
    p.kind === 'iflag' || (p.kind === 'user' && p.ops.some((o) => o.op === 'popf' || o.op === 'cli' || o.op === 'sti')) ? [i] : [],
  );
}

/**
 * Run the reference model once to learn the icount at which each piece is first reached,
 * firing events as they resolve (an irq delays every later piece by its handler), and
 * the icount at the end of the body. Mirrors SpecMachine.run's schedule (§3.8, §3.10.8–9).
 */
function resolveSchedule(
  setup: Setup,
  pieces: readonly Piece[],
  specs: readonly EventSpec[],
  budget: number,
): { events: HostEvent[]; bodySteps: number; image: Image; symbols: ReadonlyMap<string, number> } {
  const estimate = layoutBody(setup, pieces);
  const { image, symbols } = assemble(render({ setup, pieces, events: [], maxSteps: budget }), 'case.s');
  const startOf = new Map<number, number>();
  pieces.forEach((_, j) => startOf.set(symbols.get(`p${j}`)!, j));
  const bodyEnd = symbols.get('body_end')!;
  const flagged = iflagPieces(pieces);

  // Each spec's event, once its time is known; anchors wait for their piece.
  const resolved: (HostEvent | undefined)[] = specs.map(({ when, what }) =>
    'permille' in when ? eventAt(what, Math.round((when.permille * estimate.total) / 1000)) : undefined,
  );
  const anchors = specs.map(({ when }) => ('anchor' in when ? anchorPiece(when, flagged, pieces.length) : undefined));
  const fired = specs.map(() => false);
  const reached = new Set<number>();
  let bodySteps: number | undefined;

  const m = new SpecMachine(image, { ramBytes: setup.ramBytes });
  // The earliest time among the resolved, unfired events: most steps have nothing due.
  let earliest = Infinity;
  const findEarliest = (): void => {
    earliest = Infinity;
    resolved.forEach((e, i) => {
      if (e && !fired[i] && e.at < earliest) earliest = e.at;
    });
  };
  findEarliest();
  const fireDue = (limit: number): void => {
    if (earliest > limit) return;
    // Equal times fire in spec order, as sortSchedule keeps file order.
    const due = resolved
      .map((e, i) => ({ e, i }))
      .filter(({ e, i }) => e && !fired[i] && e.at <= limit)
      .sort((x, y) => x.e!.at - y.e!.at || x.i - y.i);
    for (const { e, i } of due) {
      fired[i] = true;
      m.fire(e!);
    }
    findEarliest();
  };
  let steps = 0;
  while (steps < budget) {
    const j = m.s.cpl === 0 ? startOf.get(m.s.eip) : undefined;
    if (j !== undefined && !reached.has(j)) {
      reached.add(j);
      specs.forEach(({ when, what }, i) => {
        if (anchors[i] === j && 'offset' in when) resolved[i] = eventAt(what, m.s.icount + when.offset);
      });
      findEarliest();
    }
    if (m.s.eip === bodyEnd && bodySteps === undefined) bodySteps = m.s.icount;
    fireDue(m.s.icount);
    const out = m.step();
    if (out === 'shutdown') break;
    if (out === 'halted') {
      const next = resolved.filter((e, i) => e && !fired[i]).map((e) => e!.at);
      if (next.length === 0) break;
      fireDue(Math.min(...next));
      continue;
    }
    steps++;
  }
  // Anchors whose piece was never reached (a triple fault before it) use the estimate.
  const events = specs.map(({ when, what }, i) => {
    const e = resolved[i];
    if (e) return e;
    const j = anchors[i];
    const offset = 'offset' in when ? when.offset : 0;
    return eventAt(what, (j === undefined ? 0 : estimate.starts[j]!) + offset);
  });
  return { events, bodySteps: bodySteps ?? estimate.total, image, symbols };
}

export function buildCase(setup: Setup, pieces: Piece[], specs: readonly EventSpec[]): GuestCase {
  const { events, bodySteps, image, symbols } = resolveSchedule(setup, pieces, specs, MAX_STEPS);
  // Room for the whole body and the handlers of what arrives on the way, then some idling.
  const maxSteps = Math.min(MAX_STEPS, Math.max(MIN_STEPS, 2 * bodySteps + 12 * events.length + 64));
  const c: GuestCase = { setup, pieces, events, ramBytes: setup.ramBytes, maxSteps, image, symbols };
  // fast-check prints a counterexample with this: the program, ready for `popek run`.
  Object.defineProperty(c, fc.toStringMethod, { value: () => render(c), enumerable: false });
  return c;
}

export function caseArb(opts: CaseOptions = {}): fc.Arbitrary<GuestCase> {
  const profile = PROFILES[opts.profile ?? 'all'];
  return (
    fc
      // Pieces before the setup: shrinking simplifies the pieces first (to their short
      // forms), then the setup as far as the shorter pieces still fail.
      .record({
        pieces: fc.array(profile.piece, { maxLength: opts.maxPieces ?? 14, size: 'medium' }),
        setup: profile.setup,
        specs: opts.maxEvents === undefined ? profile.events : profile.events.map((s) => s.slice(0, opts.maxEvents)),
      })
      .map(({ setup, pieces, specs }) => buildCase(setup, profile.fit ? profile.fit(setup, pieces) : pieces, specs))
  );
}
