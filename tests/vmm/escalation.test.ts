// The VMM's escalation table (src/vmm/core/emulate.ts), cell by cell against the text of DESIGN
// §3.7. The VMX vCPUs meet most cells rarely: the hardware delivers natively and only a
// delivery that touches MMIO, open bus or a traced table, or a #PF the VMM's walker finds
// while delivering, reaches this table — mutation testing found whole rows unpinned.
// Expected values are read off DESIGN §3.7, not taken from the code.

import { describe, expect, test } from 'vitest';
import {
  classOf,
  deliveryFaultClass,
  escalation,
  type DeliveryFaultClass,
  type EventKind,
  type FaultClass,
} from '../../src/vmm/core/emulate.ts';

describe('classes (DESIGN §3.7: benign #UD, int, external; contributory #NP, #GP; page fault #PF)', () => {
  const cases: [number, EventKind, FaultClass][] = [
    [6, 'exception', 'benign'], // #UD
    [8, 'exception', 'double-fault'], // #DF
    [11, 'exception', 'contributory'], // #NP
    [13, 'exception', 'contributory'], // #GP
    [14, 'exception', 'page-fault'], // #PF
    // int n and external interrupts are benign whatever their vector: `int 14` is not a #PF.
    [14, 'software', 'benign'],
    [13, 'software', 'benign'],
    [8, 'software', 'benign'],
    [11, 'external', 'benign'],
    [14, 'external', 'benign'],
    [0x20, 'external', 'benign'],
    [0x80, 'software', 'benign'],
  ];
  test.each(cases)('vector %i as %s is %s', (vector, kind, cls) => {
    expect(classOf(vector, kind)).toBe(cls);
  });

  test('a delivery raises only #NP, #GP (contributory) or #PF (page fault)', () => {
    expect(deliveryFaultClass(11)).toBe('contributory');
    expect(deliveryFaultClass(13)).toBe('contributory');
    expect(deliveryFaultClass(14)).toBe('page-fault');
  });
});

describe('a fault while delivering E1 (DESIGN §3.7)', () => {
  const cases: [FaultClass, DeliveryFaultClass, string][] = [
    // "E1 benign → deliver the new fault instead"
    ['benign', 'contributory', 'deliver-new'],
    ['benign', 'page-fault', 'deliver-new'],
    // "contributory then contributory → #DF; contributory then #PF → deliver #PF"
    ['contributory', 'contributory', 'double-fault'],
    ['contributory', 'page-fault', 'deliver-new'],
    // "#PF then contributory or #PF → #DF"
    ['page-fault', 'contributory', 'double-fault'],
    ['page-fault', 'page-fault', 'double-fault'],
    // "any fault while delivering #DF → shutdown"
    ['double-fault', 'contributory', 'shutdown'],
    ['double-fault', 'page-fault', 'shutdown'],
  ];
  test.each(cases)('%s then %s: %s', (first, second, outcome) => {
    expect(escalation(first, second)).toBe(outcome);
  });
});
