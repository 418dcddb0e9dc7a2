// The VMM-only properties have teeth: the bugs of the catalog (DESIGN §8, src/vmm/bugs.ts)
// that the audit or the isolation property catches fastest are caught by it, at a fixed
// seed, with a small shrunk counterexample. (Every catalog bug, through lockstep
// equivalence, is in properties/check/bugs.test.ts — popek mutants.)

import { describe, expect, test } from 'vitest';
import type { VmmBug } from '../src/vmm/bugs.ts';
import { runCampaign } from './check/campaign.ts';

const SEED = 20261125;
const MAX_RUNS = 2000;
const MAX_INSTRUCTIONS = 10;

/** Bugs whose fastest catcher is not lockstep equivalence. */
const BY: Partial<Record<VmmBug, string>> = {
  'no-write-protect': 'audit',
  'no-tlb-flush-on-zap': 'audit',
  'gpte-outside-ram-mapped': 'isolation',
};

describe('popek check finds every VMM bug of the catalog', () => {
  const table: string[] = [];
  test.each(Object.keys(BY) as VmmBug[])('%s', async (bug) => {
    const property = BY[bug]!;
    const r = await runCampaign({ engine: 'vmx-shadow', property, bugs: [bug], runs: MAX_RUNS, seed: SEED, workers: 1 });
    expect(r.failure, `${bug} was not caught in ${MAX_RUNS} runs`).toBeDefined();
    const f = r.failure!;
    table.push(`${bug.padEnd(26)} ${f.property.padEnd(12)} runs ${String(r.runs).padStart(5)}  shrunk to ${f.instructions} instructions`);
    expect(f.instructions, `${bug}: shrunk counterexample\n${f.source}\n${f.divergence}`).toBeLessThanOrEqual(MAX_INSTRUCTIONS);
  });

  test('the table', () => {
    console.log(['bug                        property     runs to failure, shrunk size', ...table].join('\n'));
  });
});
