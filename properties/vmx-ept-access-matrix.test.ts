// The exhaustive access matrix (properties/access-matrix) on vmx-ept: every legal
// combination of PDE/PTE flags, CR0.WP, CR4.PSE, ring and access kind must match the
// DESIGN §3.5 oracle when the hardware walks the guest's own tables through the EPT (a
// 2-D walk) — fault or not, error code, CR2, the guest's A/D bits afterwards — also when
// every EPT table is dropped before the access, so each guest-table read and A/D write
// first takes an EPT violation.

import { expect, test } from 'vitest';
import type { HostEvent } from '../spec/observation.ts';
import { VmxEptEngine } from '../src/engines/vmx-ept.ts';
import { LEGAL_COUNT, legalCombos } from './access-matrix/matrix.ts';
import { describeFailure, runMatrix } from './access-matrix/run.ts';

test(`all ${LEGAL_COUNT} legal combinations match the oracle on vmx-ept`, () => {
  const failures = runMatrix((image, config) => new VmxEptEngine(image, config));
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
});

test('every 5th legal combination matches the oracle on vmx-ept with one EPT table and host events', () => {
  // One table for the whole VM: every 4 MiB region switch evicts the last; a swap-out,
  // an eviction, a reclaim and a flush between the program's setup and its access.
  const events: HostEvent[] = [
    { at: 10, kind: 'swap-out', gpa: 0x1000 },
    { at: 20, kind: 'evict-shadow', count: 1 },
    { at: 25, kind: 'reclaim', frames: 2 },
    { at: 30, kind: 'flush-tlb' },
  ];
  const combos = legalCombos().filter((_, i) => i % 5 === 0);
  const failures = runMatrix(
    (image, config) => {
      const e = new VmxEptEngine(image, config, { maxEptTables: 1 });
      const run = e.run.bind(e);
      e.run = (ev, max) => run([...ev, ...events], max);
      return e;
    },
    { combos },
  );
  expect(failures.map(describeFailure).slice(0, 20).join('\n')).toBe('');
}, 120_000);
