// What `popek check` generates: a guest case of properties/arbitraries, rendered once to
// the VX32 assembly that is run, printed and saved in replay files.

import fc from 'fast-check';
import type { HostEvent, Image } from '../../spec/observation.ts';
import { caseArb as guestCaseArb, type GuestCase } from '../arbitraries/case.ts';
import type { GuestProfile } from '../arbitraries/profiles.ts';
import { bodyInsnCount, render } from '../arbitraries/render.ts';
import type { Failure } from './replay-file.ts';

export interface CheckCase {
  guest: GuestCase;
  /** The program as text: rendered when first read (a passing run never reads it). */
  readonly source: string;
  /** The program assembled (the guest's own image: the same bytes as `source`). */
  image: Image;
  events: HostEvent[];
  ramBytes: number;
  maxSteps: number;
  /**
   * Run a VMX engine with its emulator in front of every hidden fault (the engines'
   * `forceEmulation`, after KVM's force_emulation_prefix): the emulator's operand sizes and
   * permission checks then meet every access of the guest, not only traced and MMIO ones.
   */
  forcedEmulation: boolean;
}

/** `share`: one case in four, drawn (so shrinking tries without it); `always`: every case. */
export type ForcedEmulation = 'never' | 'share' | 'always';

export interface CaseGen {
  guests?: GuestProfile;
  forcedEmulation?: ForcedEmulation;
}

const forcedArb = (f: ForcedEmulation): fc.Arbitrary<boolean> =>
  f === 'share'
    ? fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
    : fc.constant(f === 'always');

const arbs = new Map<string, fc.Arbitrary<CheckCase>>();

/** Mapped, so fast-check still shrinks the pieces and events underneath. */
export function checkCaseArb({ guests = 'all', forcedEmulation = 'share' }: CaseGen = {}): fc.Arbitrary<CheckCase> {
  const key = `${guests}/${forcedEmulation}`;
  let arb = arbs.get(key);
  if (arb === undefined) {
    arb = fc.tuple(guestCaseArb({ profile: guests }), forcedArb(forcedEmulation)).map(([guest, forced]): CheckCase => {
      let source: string | undefined;
      return {
        guest,
        get source() {
          return (source ??= render(guest));
        },
        image: guest.image,
        events: guest.events,
        ramBytes: guest.ramBytes,
        maxSteps: guest.maxSteps,
        forcedEmulation: forced,
      };
    });
    arbs.set(key, arb);
  }
  return arb;
}

/** The default campaign's cases. */
export const caseArb: fc.Arbitrary<CheckCase> = checkCaseArb();

/** The size of a counterexample: instructions in the generated body (not the fixed prologue). */
export const caseInstructions = (c: CheckCase): number => bodyInsnCount(c.guest);

/** The replay file of a shrunk counterexample (replay-file.ts): the case and how fast-check reaches it, plus what found it. */
export function failureFile(
  result: fc.RunDetails<[CheckCase]>,
  c: CheckCase,
  found: Pick<Failure, 'property' | 'engine' | 'bugs' | 'forcedEmulation' | 'observe' | 'divergence' | 'signature'>,
): Failure {
  return {
    popek: 'counterexample',
    version: 1,
    ...found,
    seed: result.seed,
    path: result.counterexamplePath ?? '',
    source: c.source,
    events: c.events,
    ramBytes: c.ramBytes,
    maxSteps: c.maxSteps,
    instructions: caseInstructions(c),
    shrinks: result.numShrinks,
  };
}
