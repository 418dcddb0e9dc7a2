// The host-event schedule (DESIGN §3.8): timer `irq`s and host-only events (swap-out,
// migrate, evict-shadow, flush-tlb, reclaim, switch-vm) at `at` values within the run.
//
// An event's time is drawn either as a fraction of the expected run length or *anchored*
// to a piece — "k instructions after piece j begins" — and resolved when the case is
// built, from a run of the reference model that notes the icount at which each piece is
// first reached (case.ts). Static estimates drift with every handler a fault or an irq
// runs; the run does not. Anchoring is what makes an irq land inside a cli…sti window or
// an STI shadow, or a swap-out land between a PTE edit and the access through it, often
// rather than by luck. Anchors may prefer interrupt-flag pieces (cli, sti, popf, hlt).
// Shrinking re-resolves them, so an event stays at the piece it was aimed at.

import fc from 'fast-check';
import type { HostEvent } from '../../spec/observation.ts';
import { NAMED_FRAMES, V_RETURN } from './layout.ts';

export type EventWhat =
  | { kind: 'irq'; vector: number }
  | { kind: 'swap-out' | 'migrate'; gpa: number }
  | { kind: 'evict-shadow'; count: number }
  | { kind: 'flush-tlb' }
  | { kind: 'reclaim'; frames: number }
  | { kind: 'switch-vm' };

export type When = { anchor: number; iflag: boolean; offset: number } | { permille: number };

export interface EventSpec {
  when: When;
  what: EventWhat;
}

/**
 * Vectors 32–255 except 0x80, whose handler returns from ring 1–3 to the kernel: an irq
 * there would be a guest bug, not a VMM one. The first few are the ones delivery pieces
 * break, so an irq often meets a broken gate.
 */
export const irqVectorArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x20, 0x21, 0x40, 0x81, 0xff) },
  { weight: 1, arbitrary: fc.integer({ min: 32, max: 255 }).filter((v) => v !== V_RETURN) },
);

/** Guest-physical addresses the program uses: its tables, code, stacks, data, frames. */
export const gpaArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.values(NAMED_FRAMES)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...Object.values(NAMED_FRAMES)), fc.integer({ min: 0, max: 0xfff })).map(([f, o]) => f + o),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1ffff }) },
);

export const eventWhatArb: fc.Arbitrary<EventWhat> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('irq' as const), vector: irqVectorArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('swap-out' as const, 'migrate' as const), gpa: gpaArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('evict-shadow' as const), count: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush-tlb' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reclaim' as const), frames: fc.integer({ min: 1, max: 32 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'switch-vm' as const }) },
);

export const whenArb: fc.Arbitrary<When> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ anchor: fc.nat(63), iflag: fc.constant(false), offset: fc.integer({ min: 0, max: 8 }) }) },
  // Inside a cli…sti window: after the cli, at or before the sti (pieces/iflag.ts).
  { weight: 3, arbitrary: fc.record({ anchor: fc.nat(63), iflag: fc.constant(true), offset: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ permille: fc.integer({ min: 0, max: 1000 }) }) },
);

export const eventSpecArb: fc.Arbitrary<EventSpec> = fc.record({ when: whenArb, what: eventWhatArb });

/**
 * The piece an anchor names: among the interrupt-flag pieces if it asks for one and there
 * is one, else among all; undefined without pieces.
 */
export function anchorPiece(when: Extract<When, { anchor: number }>, iflagPieces: readonly number[], count: number): number | undefined {
  if (when.iflag && iflagPieces.length > 0) return iflagPieces[when.anchor % iflagPieces.length];
  return count === 0 ? undefined : when.anchor % count;
}

/** One event at `at`. */
export const eventAt = (what: EventWhat, at: number): HostEvent => ({ at, ...what });

export const isHostOnly = (e: HostEvent): boolean => e.kind !== 'irq';
