// vmx-ept ≡ spec (DESIGN §7; issue 7 item 3): the guest owns its page tables, the
// hardware walks gpa → hpa through the VMM's EPT. The same campaigns as `popek check
// --engine vmx-ept --property P` at a fixed seed — lockstep equivalence with the host
// events the generator schedules (swap-out, migrate, reclaim, flush-tlb, evict-shadow,
// switch-vm), host-event transparency, the audit of src/vmm/ept/audit.ts after every
// exit, isolation and noninterference between two VMs sharing an overcommitted host —
// plus: on a host that overcommits RAM 4:1 and lets the VM keep a single EPT table, with
// the audit after every exit, the run still ends as the spec's.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { SpecMachine } from '../spec/machine.ts';
import { VmxEptEngine } from '../src/engines/vmx-ept.ts';
import { runsOf } from './budget.ts';
import { runCampaign } from './check/campaign.ts';
import { caseArb } from './check/cases.ts';
import { diffObservations } from './lockstep/compare.ts';
import { release } from './lockstep/lockstep.ts';

const SEED = 20261125;

test.each(
  (
    [
      ['equivalence', 300],
      ['transparency', 200],
      ['audit', 100],
      ['isolation', 150],
      ['noninterference', 150],
    ] as const
  ).map(([p, n]) => [p, runsOf(n)] as const),
)(
  'vmx-ept: %s on %i generated guests',
  async (property, runs) => {
    const r = await runCampaign({ engine: 'vmx-ept', property, bugs: [], runs, seed: SEED, workers: 1 });
    expect(r.failure?.divergence, r.failure && `${r.failure.source}\n${r.failure.divergence}`).toBeUndefined();
    expect(r.runs).toBe(runs);
  },
  300_000,
);

test("vmx-ept: overcommitted host, one EPT table, audit after every exit: the spec's observation", () => {
  const counters: Record<string, number> = {};
  fc.assert(
    fc.property(caseArb, (c) => {
      const image = c.image;
      const config = { ramBytes: c.ramBytes };
      const e = new VmxEptEngine(image, config, {
        hostGuestFrames: Math.max(2, Math.floor(c.ramBytes / 4096 / 4)),
        maxEptTables: 1,
        auditEveryExit: true,
      });
      const got = e.run(c.events, c.maxSteps);
      for (const [k, v] of Object.entries(e.counters())) counters[k] = (counters[k] ?? 0) + v;
      release(e);
      const want = new SpecMachine(image, config).run(c.events, c.maxSteps);
      expect(diffObservations(want, got)).toEqual([]);
    }),
    { seed: SEED, numRuns: runsOf(100) },
  );
  // The squeeze really squeezed: frames went to disk and came back into other frames,
  // tables were evicted and rebuilt, every removal was followed by invept.
  for (const k of ['swapOuts', 'swapIns', 'ept.tablesEvicted', 'invepts', 'vm.lazyAllocations', 'vm.zeroMaps', 'mmioEmulations']) {
    expect(counters[k], k).toBeGreaterThan(0);
  }
}, 300_000);
