// Several VMs on one host (DESIGN §6.12): two guests share an overcommitted host's RAM
// and swap disk, switching at every `switch-vm`; each ends exactly as it does alone
// (and as the spec says), and both audits are clean.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { HostEvent } from '../../spec/observation.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { diffObservations } from '../../properties/lockstep/compare.ts';

const image = (f: string) => assemble(readFileSync(`examples/${f}`, 'utf8'), f).image;
const RAM = 0x40000;

test.each([
  ['paging.s', 'usermode.s'],
  ['usermode.s', 'paging.s'],
  ['mmio.s', 'triple-fault.s'],
])('%s beside %s on a host with 3 frames for both', (a, b) => {
  const events: HostEvent[] = Array.from({ length: 40 }, (_, i) => ({ at: 25 * i, kind: 'switch-vm' }) as const);
  const e = new VmxShadowEngine(image(a), { ramBytes: RAM }, { companion: { image: image(b), ramBytes: RAM }, hostGuestFrames: 3, companionSteps: 50 });
  const shared = e.run(events, 5000);
  const alone = new SpecMachine(image(a), { ramBytes: RAM }).run([], 5000);
  expect(diffObservations(alone, shared)).toEqual([]);
  expect(e.host.memory.evictions).toBeGreaterThan(0);
  expect(e.host.memory.swap.writes).toBeGreaterThan(0);
  expect([...e.vm.audit(), ...e.companion!.audit()]).toEqual([]);
  // The companion made progress too, on the same frames and disk.
  expect(e.companion!.vmcs.guest.icount).toBeGreaterThan(100);
  expect(e.companion!.p2m.swapIns + e.vm.p2m.swapIns).toBeGreaterThan(0);
});
