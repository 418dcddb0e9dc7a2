// The differ is exact (issue 14.4): observations are compared as structures, so an engine
// that builds the same trace entry with its keys in another order does not diverge there,
// and the report stars, and in brief shows, exactly the fields that differ.

import { describe, expect, test } from 'vitest';
import type { Observation } from '../../spec/observation.ts';
import { diffObservations } from './compare.ts';
import type { Divergence } from './lockstep.ts';
import { formatDivergence } from './report.ts';

function observation(eax: number, trace: Observation['trace']): Observation {
  return {
    status: 'running',
    icount: 3,
    regs: { eax, ecx: 0, edx: 0, ebx: 0, esp: 0x1000, ebp: 0, esi: 0, edi: 0 },
    eip: 0x18,
    eflags: 2,
    cpl: 0,
    cr0: 1,
    cr2: 0,
    cr3: 0,
    cr4: 0,
    idtr: { base: 0, limit: 0 },
    tr: 0,
    ram: new Uint8Array(4096),
    console: '',
    device: { counter: 0, log: [] },
    trace,
    pending: [],
  };
}

// The same #GP entry, built in DESIGN §2 order and in another one.
const inOrder = [{ icount: 1, kind: 'exception' as const, vector: 13, errorCode: 0, eip: 8 }];
const reordered = [{ eip: 8, errorCode: 0, vector: 13, kind: 'exception' as const, icount: 1 }];

describe('the exact differ', () => {
  test('key order is never a difference; a register is', () => {
    expect(diffObservations(observation(1, inOrder), observation(1, reordered))).toEqual([]);
    expect(diffObservations(observation(1, inOrder), observation(2, reordered)).map((f) => f.path)).toEqual(['regs.eax']);
  });

  const spec = observation(1, inOrder);
  const engine = observation(2, reordered);
  const d: Divergence = {
    step: 2,
    insn: 'inc eax',
    eip: 0x10,
    outcome: { spec: 'retired', engine: 'retired' },
    fired: [],
    fields: diffObservations(spec, engine),
    spec,
    engine,
  };
  const starred = (text: string) => text.split('\n').filter((l) => l.startsWith('*'));

  test('the full report stars regs.eax and nothing else', () => {
    const text = formatDivergence(d, 'e');
    expect(starred(text)).toEqual([expect.stringMatching(/^\* regs\.eax\s+0x1\s+0x2$/)]);
    expect(text).toMatch(/^ {2}trace \(1\)/m); // shown, unstarred
  });

  test('the brief report shows only the differing row', () => {
    const text = formatDivergence(d, 'e', { brief: true });
    expect(text.split('\n')).toEqual([
      'first divergence at step 2: inc eax   (eip 0x10)',
      '  step outcome: spec retired, e retired',
      expect.stringMatching(/^ +spec +e$/),
      expect.stringMatching(/^\* regs\.eax\s+0x1\s+0x2$/),
    ]);
  });
});
