// Resource control for vmx-ept (DESIGN §6.13, §7): two VMs share one overcommitted host —
// its RAM, VMM pool and swap disk. Isolation: whatever the generated guest and the host
// events do, the bystander's canaries never change and both audits are clean (no EPT
// leaf reaches a frame that is not its VM's own RAM for that gfn). Noninterference: the
// guest's observation is the same whether its neighbour idles or runs the same program.
// (The suite's `isolation` and `noninterference` PropertyDefs are vmx-shadow's; these
// are the same properties for this engine, at a fixed seed.)

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assemble } from '../spec/asm/assemble.ts';
import type { HostEvent, Image } from '../spec/observation.ts';
import { VmxEptEngine } from '../src/engines/vmx-ept.ts';
import { caseArb } from './check/cases.ts';
import { diffObservations } from './lockstep/compare.ts';

const SEED = 20261125;
const CANARY = 0xa5;
const BYSTANDER_RAM = 0x10000;

/** RAM full of canaries and a loop at 0 that reads one: `mov eax, [0x8000]; jmp 0`. */
function bystanderImage(): Image {
  const bytes = new Uint8Array(BYSTANDER_RAM).fill(CANARY);
  bytes.set([0x12, 0x00, 0x08, 0x00, 0x00, 0x80, 0x00, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0], 0);
  return { chunks: [{ addr: 0, bytes }], entry: 0 };
}

test('vmx-ept isolation: the bystander VM\'s canaries survive, both audits clean', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const by = bystanderImage();
      const e = new VmxEptEngine(assemble(c.source, 'generated.s').image, { ramBytes: c.ramBytes }, {
        companion: { image: by, ramBytes: BYSTANDER_RAM },
        hostGuestFrames: Math.max(4, Math.floor((c.ramBytes + BYSTANDER_RAM) / 4096 / 2)),
      });
      e.run([...c.events, { at: 0, kind: 'switch-vm' }], c.maxSteps);
      const other = e.companion!;
      expect(Buffer.from(other.p2m.snapshot(new Uint8Array(BYSTANDER_RAM))).equals(Buffer.from(by.chunks[0]!.bytes))).toBe(true);
      expect([...e.vm.audit(), ...other.audit()]).toEqual([]);
      expect(other.vmcs.guest.icount).toBeGreaterThan(0);
    }),
    { seed: SEED, numRuns: 150 },
  );
}, 300_000);

test('vmx-ept noninterference: an idle neighbour and a busy one leave the same observation', () => {
  fc.assert(
    fc.property(caseArb, (c) => {
      const image = assemble(c.source, 'generated.s').image;
      const events: HostEvent[] = [...c.events, { at: 0, kind: 'switch-vm' }, { at: Math.floor(c.maxSteps / 3), kind: 'switch-vm' }];
      const frames = Math.max(4, Math.floor((2 * c.ramBytes) / 4096 / 3));
      const run = (companion: { image: Image; ramBytes: number }) =>
        new VmxEptEngine(image, { ramBytes: c.ramBytes }, { companion, hostGuestFrames: frames }).run(events, c.maxSteps);
      expect(diffObservations(run({ image: bystanderImage(), ramBytes: BYSTANDER_RAM }), run({ image, ramBytes: c.ramBytes }))).toEqual([]);
    }),
    { seed: SEED, numRuns: 150 },
  );
}, 300_000);
