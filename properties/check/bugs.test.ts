// The suite has teeth (issue: "show the suite has teeth"): each hardware bug of the
// catalog, switched on, is found by `popek check`'s campaign at a fixed seed, within a
// bounded number of runs, and shrunk to a small counterexample.

import { describe, expect, test } from 'vitest';
import { HW_BUGS } from '../../src/hw/bugs.ts';
import { runCampaign } from './campaign.ts';

const SEED = 20261125;
const MAX_RUNS = 2000;
const MAX_INSTRUCTIONS = 10;

describe('popek check finds every hardware bug of the catalog', () => {
  const table: string[] = [];
  test.each(Object.keys(HW_BUGS))('%s', async (bug) => {
    const r = await runCampaign({ engine: 'native', bugs: [bug], runs: MAX_RUNS, seed: SEED, workers: 1 });
    expect(r.failure, `${bug} was not caught in ${MAX_RUNS} runs`).toBeDefined();
    const f = r.failure!;
    table.push(`${bug.padEnd(26)} ${f.property.padEnd(12)} runs ${String(r.runs).padStart(5)}  shrunk to ${f.instructions} instructions`);
    expect(f.instructions, `${bug}: shrunk counterexample\n${f.source}\n${f.divergence}`).toBeLessThanOrEqual(MAX_INSTRUCTIONS);
  });

  test('without a bug, the same campaign passes', async () => {
    const r = await runCampaign({ engine: 'native', bugs: [], runs: 300, seed: SEED, workers: 1 });
    expect(r.failure?.divergence).toBeUndefined();
    console.log(['bug                        property     runs to failure, shrunk size', ...table].join('\n'));
  });
});
