// native ≡ spec (DESIGN §5, §7): generated guests with host events, in lockstep, at a
// fixed seed. The same campaign as `popek check --engine native`.

import { expect, test } from 'vitest';
import { runCampaign } from './check/campaign.ts';

test('native ≡ spec in lockstep on 400 generated guests', async () => {
  const r = await runCampaign({ engine: 'native', bugs: [], runs: 400, seed: 0x1234, workers: 1 });
  expect(r.failure?.divergence, r.failure && `${r.failure.source}\n${r.failure.divergence}`).toBeUndefined();
  expect(r.runs).toBe(400);
});
