// vmx-shadow ≡ spec, and the properties only a VMM has (DESIGN §7): the audit after every
// exit, host-event transparency, isolation and noninterference between two VMs sharing
// an overcommitted host. The same campaigns as `popek check --engine vmx-shadow
// --property P`, at fixed seeds.

import { expect, test } from 'vitest';
import { runsOf, workersOf } from './budget.ts';
import { runCampaign } from './check/campaign.ts';

const cases: [property: string, runs: number][] = [
  ['equivalence', 300],
  ['audit', 100],
  ['transparency', 150],
  ['isolation', 150],
  ['noninterference', 150],
];

test.each(cases.map(([p, n]) => [p, runsOf(n)] as const))('vmx-shadow: %s on %i generated guests', async (property, runs) => {
  const r = await runCampaign({ engine: 'vmx-shadow', property, bugs: [], runs, seed: 0x5eed, workers: workersOf(2) });
  expect(r.failure?.divergence, r.failure && `${r.failure.source}\n${r.failure.divergence}`).toBeUndefined();
  expect(r.runs).toBe(runs);
});
