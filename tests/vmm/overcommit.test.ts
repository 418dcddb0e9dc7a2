// A host with fewer frames than one instruction touches (DESIGN §6.8 overcommit; see
// THRASHING_STALLS in src/vmm/core/vmx-entry.ts). The instruction at 0xffc straddles two
// code pages and reads two bytes on each side of a page boundary through a second page
// table: code frames 0 and 1, data frames 4 and 5, the directory at 0x2000 and the
// tables at 0x3000 and 0x6000 — seven frames, on a host that gives the VM the minimum of
// five. Under EPT the 2-D walk needs all seven resident at once: paging one in evicts
// another, forever, unless the VMM performs the instruction in software (without the
// fallback this test ends in "made no progress"). Under shadow paging the hardware needs
// only the four frames of the access, and the VMM's walker reads the tables one at a
// time; its fill still takes more than THRASHING_STALLS exits in a row here, so it
// emulates too. Either way the guest must see exactly what the spec says.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { Engine, Image, MachineConfig } from '../../spec/observation.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { MIN_GUEST_FRAMES } from '../../src/vmm/core/host.ts';
import { diffObservations } from '../../properties/lockstep/compare.ts';

const src = `
      mov eax, 0x3003
      mov [0x2000], eax        ; PDE 0 -> the table at 0x3000: identity for pages 0..15
      mov eax, 0x6003
      mov [0x2004], eax        ; PDE 1 -> the table at 0x6000: 4 MiB -> frames 4, 5
      mov ecx, 0
    fill:
      mov eax, ecx
      shl eax, 12
      or eax, 3
      mov ebx, ecx
      shl ebx, 2
      mov [ebx + 0x3000], eax
      inc ecx
      cmp ecx, 16
      jne fill
      mov eax, 0x4003
      mov [0x6000], eax
      mov eax, 0x5003
      mov [0x6004], eax
      mov eax, 0x11223344
      mov [0x4ffc], eax
      mov eax, 0x55667788
      mov [0x5000], eax
      mov eax, 0x2000
      mov cr3, eax
      mov eax, 0x80000001
      mov cr0, eax
      mov edx, 0
      jmp straddle
      .org 0xffc
    straddle:
      mov ebx, [0x400ffe]
      inc edx
      cmp edx, 20
      jne straddle
      hlt`;

const engines: [string, (i: Image, c: MachineConfig) => Engine & { counters(): Record<string, number> }][] = [
  ['vmx-shadow', (i, c) => new VmxShadowEngine(i, c, { hostGuestFrames: MIN_GUEST_FRAMES, auditEveryExit: true })],
  ['vmx-ept', (i, c) => new VmxEptEngine(i, c, { hostGuestFrames: MIN_GUEST_FRAMES, auditEveryExit: true })],
];

test.each(engines)('%s emulates what does not fit, and the guest sees the spec', (_name, make) => {
  const image = assemble(src, 'overcommit.s').image;
  const config = { ramBytes: 0x10000 };
  const e = make(image, config);
  const got = e.run([], 3000);
  expect(diffObservations(new SpecMachine(image, config).run([], 3000), got)).toEqual([]);
  expect([got.status, got.regs.ebx, got.regs.edx]).toEqual(['halted', 0x77881122, 20]);
  expect(e.counters().thrashEmulations).toBeGreaterThan(0);
});
