// The suite has teeth: every bug of the known-bug catalog (DESIGN §8), switched on, is
// found by `popek check`'s campaign at a fixed seed within a bounded number of runs and
// shrunk to a small counterexample — what `popek mutants` prints.

import { expect, test } from 'vitest';
import { BUG_CATALOG } from '../../src/engines/registry.ts';
import { formatReport } from './counterexample.ts';
import { formatMutants, runMutant, runMutants, type MutantResult } from './mutants.ts';
import { divergenceOf } from './suite.ts';
import { runCampaign } from './campaign.ts';

const SEED = 20261125;
const MAX_RUNS = 2000;
const MAX_INSTRUCTIONS = 10;
/**
 * Bugs whose shrunk counterexample needs more: large-alias-not-write-protected needs paging
 * on, a 4 MiB alias and an edit through it, and at this seed fast-check's shrinker keeps
 * the paging-off set-up, so a mode piece that turns paging on stays in (16 instructions).
 */
const MAX_INSTRUCTIONS_OF: Readonly<Record<string, number>> = { 'large-alias-not-write-protected': 16 };
const results: MutantResult[] = [];

const cases = Object.entries(BUG_CATALOG).flatMap(([bug, { engines }]) => engines.map((engine) => ({ bug, engine })));

/**
 * The report `popek check --bug` prints for it, in lines (issue 14.3: it fits a screen).
 * check prints its `E: P: FAILED …` line and a blank line before the report; the paths
 * and command are one line each whatever their length.
 */
function reportLines(r: MutantResult): number {
  const f = r.failure!;
  const brief = f.property === 'equivalence' ? divergenceOf(f.source, f, f.engine, f.bugs, { brief: true }) : undefined;
  const text = formatReport({
    found: { ...f, campaignSeed: SEED },
    runs: r.runs,
    shrinks: f.shrinks,
    bugDescriptions: { [r.bug]: BUG_CATALOG[r.bug]!.description },
    replayPath: 'NAME.json',
    sPath: 'NAME.s',
    command: 'popek diff NAME.s …',
    divergence: brief ?? f.divergence,
    verbose: false,
  });
  return 2 + text.trimEnd().split('\n').length;
}

test.each(cases)('$bug on $engine is caught with a shrunk counterexample', async ({ bug, engine }) => {
  const r = await runMutant(bug, engine, { seed: SEED, maxRuns: MAX_RUNS });
  results.push(r);
  expect(r.caught, `${bug} was not caught in ${MAX_RUNS} runs`).toBe(true);
  expect(r.instructions, `${bug}: shrunk counterexample\n${r.source}\n${r.divergence}`).toBeLessThanOrEqual(
    MAX_INSTRUCTIONS_OF[bug] ?? MAX_INSTRUCTIONS,
  );
  expect(reportLines(r), `${bug}: the report does not fit a screen`).toBeLessThanOrEqual(40);
});

test('without a bug, the same campaign passes', async () => {
  const r = await runCampaign({ engine: 'native', bugs: [], runs: 300, seed: SEED, workers: 1 });
  expect(r.failure?.divergence).toBeUndefined();
  console.log(formatMutants(results));
});

test('on worker threads, popek mutants gives the same results in the same order, but for the seconds', async () => {
  const catalog = Object.fromEntries(['host-cr-leak', 'popf-no-shadow-if'].map((b) => [b, BUG_CATALOG[b]!]));
  const timeless = (rs: MutantResult[]) => rs.map(({ seconds: _, ...r }) => r);
  const threaded = await runMutants(catalog, { seed: SEED, maxRuns: MAX_RUNS, workers: 2 });
  expect(timeless(threaded)).toEqual(timeless(await runMutants(catalog, { seed: SEED, maxRuns: MAX_RUNS, workers: 1 })));
  expect(threaded.map((r) => r.bug)).toEqual(Object.keys(catalog));
});
