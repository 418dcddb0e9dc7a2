// Several VMs on one host (DESIGN §6.12): two guests share an overcommitted host's RAM
// and swap disk, switching at every `switch-vm`; each ends exactly as it does alone
// (and as the spec says), and both audits are clean — under shadow paging and under EPT.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { HostEvent } from '../../spec/observation.ts';
import type { Image } from '../../spec/observation.ts';
import { VmxEptEngine, type VmxEptOptions } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine, type VmxShadowOptions } from '../../src/engines/vmx-shadow.ts';
import { MIN_GUEST_FRAMES } from '../../src/vmm/core/host.ts';
import { diffObservations } from '../../properties/lockstep/compare.ts';

const image = (f: string) => assemble(readFileSync(`examples/${f}`, 'utf8'), f).image;
const RAM = 0x40000;

const engines = {
  'vmx-shadow': (i: Image, o: VmxShadowOptions) => new VmxShadowEngine(i, { ramBytes: RAM }, o),
  'vmx-ept': (i: Image, o: VmxEptOptions) => new VmxEptEngine(i, { ramBytes: RAM }, o),
};

test.each(
  (['vmx-shadow', 'vmx-ept'] as const).flatMap((engine) =>
    [
      ['paging.s', 'usermode.s'],
      ['usermode.s', 'paging.s'],
      ['paging.s', 'mmio.s'],
    ].map(([a, b]) => [engine, a!, b!] as const),
  ),
)(`%s: %s beside %s on a host with ${MIN_GUEST_FRAMES} frames for both`, (engine, a, b) => {
  const events: HostEvent[] = Array.from({ length: 40 }, (_, i) => ({ at: 25 * i, kind: 'switch-vm' }) as const);
  const e = engines[engine](image(a), {
    companion: { image: image(b), ramBytes: RAM },
    hostGuestFrames: MIN_GUEST_FRAMES,
    companionSteps: 50,
  });
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
