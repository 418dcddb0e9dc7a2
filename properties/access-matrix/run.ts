// Runs the access matrix on any engine. Engine-agnostic: it only builds images, calls
// `Engine.run` (spec/observation.ts) and reads the final observation, so the same
// matrix checks the spec, the native engine and every VMM (see README.md).

import { type Combo, comboName, legalCombos, scenarioOf } from './matrix.ts';
import { sampleOf } from '../budget.ts';
import { type Oracle, oracle as designOracle } from './oracle.ts';
import { MAX_STEPS, type Outcome, RAM_BYTES, type Variant, expectedOutcome, outcomeOf, programOf } from './program.ts';

import type { Engine, EngineFactory } from '../../src/engines/engine.ts';
import { release } from '../lockstep/lockstep.ts';

export interface MatrixFailure {
  combo: Combo;
  /** The combination as the names table prints it, e.g. `pde.p pde.us pte.p cr0.wp user write`. */
  name: string;
  expected: Outcome;
  actual: Outcome;
}

export interface MatrixOptions {
  /** The oracle to compare with (default: DESIGN §3.5). Tests pass broken ones to prove the matrix has teeth. */
  oracle?: Oracle;
  /** The combinations to run (default: every legal one). */
  combos?: readonly Combo[];
  /** `rewrite`: the guest rewrites the live entries after a first access (program.ts). */
  variant?: Variant;
}

/** Run every combination on a fresh engine; return the ones whose outcome differs from the oracle's. */
export function runMatrix(makeEngine: EngineFactory, opts: MatrixOptions = {}): MatrixFailure[] {
  return compareWithOracle(runCombos(makeEngine, opts.combos, opts.variant), opts.oracle);
}

/** Each combination's outcome on a fresh engine (split from the comparison so several oracles can judge one run). */
export function runCombos(
  makeEngine: EngineFactory,
  combos: readonly Combo[] = sampleOf(legalCombos()),
  variant: Variant = 'plain',
): Map<Combo, Outcome> {
  const outcomes = new Map<Combo, Outcome>();
  for (const combo of combos) {
    let actual: Outcome;
    let engine: Engine | undefined;
    try {
      engine = makeEngine(programOf(combo, variant), { ramBytes: RAM_BYTES });
      actual = outcomeOf(engine.run([], MAX_STEPS));
    } catch (e) {
      // DESIGN §6.14: no guest input may crash an engine; a throw is this combination's failure.
      actual = {
        status: `engine threw: ${e instanceof Error ? e.message : String(e)}`,
        trace: [],
        pf: null,
        result: NaN,
        data: NaN,
        pde: NaN,
        pte: NaN,
      };
    }
    if (engine) release(engine); // 10,200 machines: their TLBs' buffers go round (issue 15)
    outcomes.set(combo, actual);
  }
  return outcomes;
}

export function compareWithOracle(outcomes: ReadonlyMap<Combo, Outcome>, oracle: Oracle = designOracle): MatrixFailure[] {
  const failures: MatrixFailure[] = [];
  for (const [combo, actual] of outcomes) {
    const expected = expectedOutcome(combo, oracle(scenarioOf(combo)));
    if (differingFields(expected, actual).length > 0) failures.push({ combo, name: comboName(combo), expected, actual });
  }
  return failures;
}

const OUTCOME_FIELDS: readonly (keyof Outcome)[] = ['status', 'trace', 'pf', 'result', 'data', 'pde', 'pte'];

function differingFields(a: Outcome, b: Outcome): (keyof Outcome)[] {
  return OUTCOME_FIELDS.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The fields that differ, one line each: what a failing combination prints. */
export function describeFailure(f: MatrixFailure): string {
  const diffs = differingFields(f.expected, f.actual).map((k) => `    ${k}: expected ${show(f.expected[k])}, got ${show(f.actual[k])}`);
  return [`  ${f.name}`, ...diffs].join('\n');
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' ? '0x' + (x >>> 0).toString(16) : x)).replace(/"/g, '');
}
