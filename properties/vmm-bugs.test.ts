// The VMM-only properties have teeth, for both VMMs: bugs of the catalog (DESIGN §8,
// src/vmm/core/bugs.ts, src/vmm/ept/bugs.ts) that break an invariant of the audit or reach
// memory the guest was not given are caught by that property, at a fixed seed, with a
// small shrunk counterexample. (Every catalog bug, through lockstep
// equivalence, is in properties/check/bugs.test.ts — popek mutants.)

import { describe, expect, test } from 'vitest';
import { runCampaign } from './check/campaign.ts';

const SEED = 20261125;
const MAX_RUNS = 2000;
const MAX_INSTRUCTIONS = 10;

/** Bugs and the VMM-only property that catches them. */
const CASES: [bug: string, engine: string, property: string][] = [
  ['no-write-protect', 'vmx-shadow', 'audit'],
  ['no-tlb-flush-on-zap', 'vmx-shadow', 'audit'],
  ['gpte-outside-ram-mapped', 'vmx-shadow', 'isolation'],
  ['open-bus-mapped-writable', 'vmx-ept', 'audit'],
  ['no-invept-after-swap-out', 'vmx-ept', 'isolation'],
  // The zero frame is shared by every VM: a write to it lands in the bystander's RAM.
  ['zero-page-mapped-writable', 'vmx-ept', 'isolation'],
];

describe('the audit and isolation properties catch the VMM bugs that break them', () => {
  const table: string[] = [];
  test.each(CASES)('%s (%s) by %s', async (bug, engine, property) => {
    const r = await runCampaign({ engine, property, bugs: [bug], runs: MAX_RUNS, seed: SEED, workers: 1 });
    expect(r.failure, `${bug} was not caught in ${MAX_RUNS} runs`).toBeDefined();
    const f = r.failure!;
    table.push(
      `${bug.padEnd(26)} ${engine.padEnd(11)} ${f.property.padEnd(12)} runs ${String(r.runs).padStart(5)}  shrunk to ${f.instructions} instructions`,
    );
    expect(f.instructions, `${bug}: shrunk counterexample\n${f.source}\n${f.divergence}`).toBeLessThanOrEqual(MAX_INSTRUCTIONS);
  });

  test('the table', () => {
    console.log(['bug                        engine      property     runs to failure, shrunk size', ...table].join('\n'));
  });
});
