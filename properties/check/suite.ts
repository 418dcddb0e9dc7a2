// The property suite as `popek check` runs it: each property is a predicate over a
// generated guest case for one engine (with optional catalog bugs switched on). A chunk
// of runs is one `fc.check` at one seed; a failure comes back shrunk, with its replay
// coordinates and the first divergence, ready to be written to a replay file.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import type { Image } from '../../spec/observation.ts';
import { engineFactory } from '../../src/cli/engines.ts';
import { caseArb, caseInstructions, type CheckCase } from './cases.ts';
import { lockstep } from '../lockstep/lockstep.ts';
import { formatDivergence } from '../lockstep/report.ts';
import type { ReplayFile } from './replay-file.ts';

export interface PropertyDef {
  name: string;
  /** What a failure means, for the report. */
  meaning: string;
  /** undefined when the property holds for this case, else the failure as text. */
  check(c: CheckCase, engine: string, bugs: readonly string[]): string | undefined;
}

/** Lockstep equivalence with the spec, under the host events the case schedules (DESIGN §7). */
export const equivalence: PropertyDef = {
  name: 'equivalence',
  meaning: 'the engine and the spec disagree on a guest-visible field',
  check(c, engine, bugs) {
    return divergenceOf(c.source, c, engine, bugs);
  },
};

export const PROPERTIES: readonly PropertyDef[] = [equivalence];

const images = new Map<string, Image>();
function imageOf(source: string): Image {
  let image = images.get(source);
  if (image === undefined) {
    image = assemble(source, 'generated.s').image;
    if (images.size > 64) images.clear();
    images.set(source, image);
  }
  return image;
}

export function divergenceOf(source: string, c: Pick<CheckCase, 'events' | 'ramBytes' | 'maxSteps'>, engine: string, bugs: readonly string[]): string | undefined {
  const make = engineFactory(engine);
  const r = lockstep((image, config) => make(image, { ...config, bugs }), {
    image: imageOf(source),
    config: { ramBytes: c.ramBytes },
    events: c.events,
    maxSteps: c.maxSteps,
  });
  return r.divergence ? formatDivergence(r.divergence, engine) : undefined;
}

export interface ChunkOutcome {
  k: number;
  runs: number;
  failure?: ReplayFile & { shrinks: number };
}

/** Run chunk k of a campaign: `numRuns` cases from `seed`. */
export function runChunk(prop: PropertyDef, engine: string, bugs: readonly string[], k: number, seed: number, numRuns: number): ChunkOutcome {
  const result = fc.check(
    fc.property(caseArb, (c) => prop.check(c, engine, bugs) === undefined),
    { seed, numRuns },
  );
  if (!result.failed || result.counterexample === null) return { k, runs: result.numRuns };
  const [c] = result.counterexample;
  const divergence = prop.check(c, engine, bugs) ?? String(result.errorInstance ?? 'the property failed');
  return {
    k,
    runs: result.numRuns,
    failure: {
      popek: 'counterexample',
      version: 1,
      property: prop.name,
      engine,
      bugs: [...bugs],
      seed: result.seed,
      path: result.counterexamplePath ?? '',
      source: c.source,
      events: c.events,
      ramBytes: c.ramBytes,
      maxSteps: c.maxSteps,
      instructions: caseInstructions(c),
      divergence,
      shrinks: result.numShrinks,
    },
  };
}
