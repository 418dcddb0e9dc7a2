// DESIGN §6.14 and issue 20 item 6: under every property, an engine that throws during a
// guest run is a finding — the failure names it ("engine crashed: …"), is shrunk and
// carries its counterexample — never an exception out of popek's campaign.

import fc from 'fast-check';
import { afterEach, expect, test, vi } from 'vitest';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { checkCaseArb } from './cases.ts';
import { PROPERTIES, appliesTo, runChunk } from './suite.ts';

afterEach(() => void vi.restoreAllMocks());

// Equivalence runs engines step by step in lockstep (properties/lockstep), which reports a
// crash itself; the properties here run them whole.
const whole = PROPERTIES.filter((p) => p.name !== 'equivalence' && appliesTo(p, 'vmx-shadow'));

const throwing = (message: string) =>
  vi.spyOn(VmxShadowEngine.prototype, 'run').mockImplementation(() => {
    throw new RangeError(message);
  });

const [someCase] = fc.sample(checkCaseArb({ guests: 'physical', forcedEmulation: 'never' }), { seed: 3, numRuns: 1 });

test.each(whole.map((p) => p.name))('%s: a throwing engine is a failure that names the crash', (name) => {
  throwing('frame 99 freed twice');
  expect(whole.find((p) => p.name === name)!.check(someCase!, 'vmx-shadow', [])).toBe('engine crashed: frame 99 freed twice');
});

test('the crash is shrunk and kept with its counterexample, as any failure', () => {
  throwing('frame 99 freed twice');
  const r = runChunk(
    whole.find((p) => p.name === 'transparency')!,
    'vmx-shadow',
    [],
    0,
    1,
    1,
    undefined,
    { guests: 'physical' },
  );
  expect(r.failure?.divergence).toBe('engine crashed: frame 99 freed twice');
  expect(r.failure?.source).toContain('.entry start');
  // Whatever the guest, the engine throws: shrinking removes every piece and event.
  expect(r.failure?.instructions).toBe(0);
  expect(r.failure?.events).toEqual([]);
});

test('a failed audit keeps its own text', () => {
  vi.spyOn(VmxShadowEngine.prototype, 'run').mockImplementation(() => {
    throw new Error('popek: audit failed:\nS3: spte 0x1000 maps traced gfn 21 writable');
  });
  expect(whole.find((p) => p.name === 'audit')!.check(someCase!, 'vmx-shadow', [])).toMatch(/^popek: audit failed:\nS3/);
});
