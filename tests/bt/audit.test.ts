// The shadow audit (DESIGN §6.13) holds under the bt VMM, whose write-protection of
// translated code edits sptes behind the shadow MMU's back: generated guests (popek
// check's cases) on a shadow pool small enough to evict often, audited after every trap
// and every callout that edits the shadow. The audit is the shadow MMU's own (src/vmm/shadow/audit.ts).

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { BtEngine } from '../../src/engines/bt.ts';
import { caseArb } from '../../properties/check/cases.ts';
import { runsOf } from '../../properties/budget.ts';

const audited = (bugs: string[]) =>
  fc.property(caseArb, (c) => {
    const e = new BtEngine(c.image, { ramBytes: c.ramBytes, bugs }, { maxShadowPages: 6, maxRoots: 2, auditEveryTrap: true });
    e.run(c.events, c.maxSteps);
    expect(e.vm.audit()).toEqual([]);
  });

test('bt: no audit violation after any trap or shadow-editing callout, on a squeezed shadow pool', () => {
  fc.assert(audited([]), { seed: 19, numRuns: runsOf(6) });
});

test('the same check fails when the VMM stops write-protecting guest page tables', () => {
  expect(() => fc.assert(audited(['no-write-protect']), { seed: 19, numRuns: runsOf(40), endOnFailure: true })).toThrow(/Property failed/);
});
