// The ASPLOS-06 figure (issue 19 item 5): the order of native / software / hardware as
// the paper's, with costs that are the same for every row — each row's cycles must equal
// its counters priced by one table, written here independently of cost-model.ts's sum.

import { expect, test } from 'vitest';
import { COSTS, CPU_PROFILES } from '../../src/cli/cost-model.ts';
import { FIGURE_ENGINES, FIGURE_ROWS, buildFigure, order } from '../../src/cli/figure-asplos06.ts';

test('order: values within 20 % are equal, as the paper’s syscall (243 / 247) and divzero (889 / 1014) pairs', () => {
  expect(order({ native: 243, software: 2314, hardware: 247 })).toBe('hardware = native < software');
  expect(order({ native: 889, software: 3223, hardware: 1014 })).toBe('hardware = native < software');
  expect(order({ native: 1093, software: 3927, hardware: 11242 })).toBe('native < software < hardware');
  expect(order({ native: 3209, hardware: 15826 })).toBe('native < hardware');
});

test('call/ret, pgfault and ptemod: the paper’s order, every cost the same for every row and engine', () => {
  const prescott = CPU_PROFILES.find((c) => c.name === 'prescott')!;
  const rows = FIGURE_ROWS.filter((r) => ['call/ret', 'pgfault', 'ptemod'].includes(r.row)).map((r) => ({ ...r, iterations: 8 }));
  const f = buildFigure(prescott, undefined, rows);
  const price: Record<string, number> = {
    instructions: COSTS.nativeInstruction,
    walkRefs: COSTS.walkReference,
    exits: prescott.exitRoundTrip,
    gpteReads: COSTS.gpteRead,
    spteWrites: COSTS.spteWrite,
    emulated: COSTS.emulatedInstruction,
    interpreted: COSTS.interpretedInstruction,
    translated: COSTS.translatedInstruction,
    callouts: COSTS.callout,
    'bt.inline': COSTS.inlineCallout,
    traps: COSTS.legacyTrap,
    'bt.indirect': COSTS.indirectBranch,
    deliveries: COSTS.eventDelivery,
    devicePortAccesses: COSTS.devicePortAccess,
  };
  for (const r of f.rows) {
    expect(r.match, `${r.row}: ${r.modelledOrder} vs the paper's ${r.paperOrder}`).toBe(true);
    for (const e of FIGURE_ENGINES) {
      const expected = Object.entries(r.counters[e]).reduce((sum, [k, v]) => sum + v * (price[k] ?? 0), 0);
      expect(r.cycles[e], `${r.row} on ${e}`).toBeCloseTo(expected, 6);
    }
  }
  // Only native reaches a real device; no row here does port I/O at all.
  expect(f.rows.every((r) => FIGURE_ENGINES.every((e) => r.counters[e].devicePortAccesses === undefined))).toBe(true);
});
