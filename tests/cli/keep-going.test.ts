// `popek check --keep-going` (issue 14.5): the campaign does not stop at the first
// counterexample; it collects failures of distinct signatures (engine, property, first
// diverging instruction and field), each shrunk on its own. trap-emulate fails on several
// sensitive unprivileged instructions (DESIGN §7), so a few runs find more than one.

import { expect, test } from 'vitest';
import { runCampaign } from '../../properties/check/campaign.ts';
import { divergenceSignature, firstDivergence } from '../../properties/check/suite.ts';

test('distinct failures, each shrunk, each with the signature it is listed under', { timeout: 120_000 }, async () => {
  const o = { engine: 'trap-emulate', bugs: [], runs: 5, seed: 20261125 };
  const plain = await runCampaign(o);
  expect(plain.failures).toHaveLength(1); // without keepGoing: the first failure only
  const r = await runCampaign({ ...o, keepGoing: true });
  expect(r.failures.length).toBeGreaterThanOrEqual(2);
  const signatures = r.failures.map((f) => f.signature);
  expect(new Set(signatures).size).toBe(signatures.length);
  expect(r.failures[0]!.signature).toBe(plain.failures[0]!.signature);
  for (const f of r.failures) {
    const d = firstDivergence(f.source, f, f.engine, f.bugs);
    expect(d, f.signature).toBeDefined();
    expect(`trap-emulate equivalence: ${divergenceSignature(d!)}`).toBe(f.signature);
    expect(f.instructions).toBeLessThanOrEqual(10); // shrunk: a piece or two of the body
  }
  // By hand (DESIGN §7): popf at cpl > 0 drops IF without a trap; str reads the real TR.
  expect(signatures.some((s) => s.includes('popf -> eflags'))).toBe(true);
  expect(signatures.some((s) => s.includes('str r'))).toBe(true);
});

test('pushf is listed as itself: the stack slot it writes is where trap-emulate first diverges (DESIGN §2, §7)', () => {
  // Guest ring 0 runs at real ring 1 with the real IF = 1: pushf pushes 0x202 where the
  // spec pushes the reset eflags 0x2. The pop that reads it back diverges too, later.
  const d = firstDivergence('mov esp, 0x1000\npushf\npop eax\nhlt\n', { events: [], ramBytes: 0x10000, maxSteps: 100 }, 'trap-emulate', []);
  expect(d?.step).toBe(1);
  expect(divergenceSignature(d!)).toBe('pushf -> ram');
  expect(d?.fields.map((f) => f.path)).toEqual(['ram[0xffd]']);
});
