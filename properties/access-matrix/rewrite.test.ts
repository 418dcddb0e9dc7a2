// The access matrix, each combination reached by rewriting live entries (program.ts
// `rewrite`): the guest reads through fully permissive entries, then stores the
// combination's PDE and PTE and makes the access. With no TLB in VX32 (DESIGN §3.6) the
// outcome must equal the plain matrix's: on the spec (the oracle agrees), on native (its
// TLB must stay coherent), on vmx-shadow (memory tracing must make the change visible at
// once, DESIGN §6.5) — and the variant catches the bugs that break exactly that.

import { expect, test } from 'vitest';
import { SpecMachine } from '../../spec/machine.ts';
import { NativeEngine } from '../../src/engines/native.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import type { EngineFactory } from '../../src/engines/engine.ts';
import { LEGAL_COUNT, has, legalCombos } from './matrix.ts';
import { describeFailure, runMatrix } from './run.ts';
import { sampleOf } from '../budget.ts';

const engines: [string, EngineFactory][] = [
  ['spec', (i, c) => new SpecMachine(i, c)],
  ['native', (i, c) => new NativeEngine(i, c)],
  ['vmx-shadow', (i, c) => new VmxShadowEngine(i, c)],
];

test.each(engines)(`all ${LEGAL_COUNT} combinations, reached by rewriting live entries, match the oracle on %s`, (_name, make) => {
  const failures = runMatrix(make, { variant: 'rewrite' });
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
});

/** The combinations where the rewrite takes a permission away that the first read used. */
const restricted = sampleOf(legalCombos()).filter((c) => !has(c, 'pde.p') || !has(c, 'pte.p') || (has(c, 'user') && !has(c, 'pte.us')));

test('it catches a TLB left stale by a page-table store (native, tlb-stale-after-pt-write)', () => {
  const failures = runMatrix((i, c) => new NativeEngine(i, { ...c, bugs: ['tlb-stale-after-pt-write'] }), {
    variant: 'rewrite',
    combos: restricted,
  });
  expect(failures.length).toBeGreaterThan(0);
});

test('it catches a shadow that does not trace guest tables (vmx-shadow, no-write-protect)', () => {
  const failures = runMatrix((i, c) => new VmxShadowEngine(i, { ...c, bugs: ['no-write-protect'] }), {
    variant: 'rewrite',
    combos: restricted,
  });
  expect(failures.length).toBeGreaterThan(0);
});
