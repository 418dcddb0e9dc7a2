// What `popek check` generates: a guest case of properties/arbitraries, rendered once to
// the VX32 assembly that is run, printed and saved in replay files.

import type fc from 'fast-check';
import type { HostEvent } from '../../spec/observation.ts';
import { caseArb as guestCaseArb, type GuestCase } from '../arbitraries/case.ts';
import { bodyInsnCount, render } from '../arbitraries/render.ts';

export interface CheckCase {
  guest: GuestCase;
  source: string;
  events: HostEvent[];
  ramBytes: number;
  maxSteps: number;
}

/** Mapped, so fast-check still shrinks the pieces and events underneath. */
export const caseArb: fc.Arbitrary<CheckCase> = guestCaseArb().map((guest) => ({
  guest,
  source: render(guest),
  events: guest.events,
  ramBytes: guest.ramBytes,
  maxSteps: guest.maxSteps,
}));

/** The size of a counterexample: instructions in the generated body (not the fixed prologue). */
export const caseInstructions = (c: CheckCase): number => bodyInsnCount(c.guest);
