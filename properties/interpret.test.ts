// interpret ≡ spec (DESIGN §5, §7): the SIE-style interpreter of src/vmm/interpret, a
// third independent reading of DESIGN §3, in lockstep with the reference model on
// generated guests with host events at a fixed seed — the campaign of
// `popek check --engine interpret` — host-event transparency, and the exhaustive access
// matrix. And the suite has teeth for it: its catalog bug is caught and shrunk.

import { expect, test } from 'vitest';
import { InterpretEngine } from '../src/engines/interpret.ts';
import { runsOf } from './budget.ts';
import { runCampaign } from './check/campaign.ts';
import { LEGAL_COUNT } from './access-matrix/matrix.ts';
import { describeFailure, runMatrix } from './access-matrix/run.ts';

const SEED = 0x5e1e;

test('interpret ≡ spec in lockstep on 300 generated guests', async () => {
  const r = await runCampaign({ engine: 'interpret', bugs: [], runs: runsOf(300), seed: SEED, workers: 1 });
  expect(r.failure?.divergence, r.failure && `${r.failure.source}\n${r.failure.divergence}`).toBeUndefined();
  expect(r.runs).toBe(runsOf(300));
}, 300_000);

test('interpret: host events are transparent on 200 generated guests', async () => {
  const r = await runCampaign({ engine: 'interpret', property: 'transparency', bugs: [], runs: runsOf(200), seed: SEED, workers: 1 });
  expect(r.failure?.divergence, r.failure && `${r.failure.source}\n${r.failure.divergence}`).toBeUndefined();
  expect(r.runs).toBe(runsOf(200));
}, 300_000);

test(`all ${LEGAL_COUNT} legal access-matrix combinations match the oracle on interpret`, () => {
  const failures = runMatrix((image, config) => new InterpretEngine(image, config));
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
}, 300_000);

test('the catalog bug interpret-no-ad is caught with a shrunk counterexample of ≤ 10 instructions', async () => {
  const r = await runCampaign({ engine: 'interpret', bugs: ['interpret-no-ad'], runs: 2000, seed: SEED, workers: 1 });
  expect(r.failure, 'interpret-no-ad was not caught in 2000 runs').toBeDefined();
  const f = r.failure!;
  expect(f.instructions, `shrunk counterexample\n${f.source}\n${f.divergence}`).toBeLessThanOrEqual(10);
  // The divergence is in guest RAM: an A/D bit of a gpte the spec set and the interpreter did not.
  expect(f.divergence).toMatch(/ram\[0x/);
}, 300_000);

test('the access matrix also catches interpret-no-ad', () => {
  const failures = runMatrix((image, config) => new InterpretEngine(image, { ...config, bugs: ['interpret-no-ad'] }));
  expect(failures.length).toBeGreaterThan(0);
}, 300_000);
