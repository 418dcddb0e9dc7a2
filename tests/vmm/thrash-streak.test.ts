// The thrashing fallback (THRASHING_STALLS in src/vmm/core/vmx-entry.ts, DESIGN §6.8)
// counts exits in a row *without progress*. An entry that made progress ends the streak
// before its exit is handled: that exit belongs to the next instruction. Found by the
// smallest-host `transparency` check on vmx-ept (issue 20): the stall count was reset only
// after the handler ran, so when a streak ended exactly at THRASHING_STALLS the next
// instruction's first fault was sent to the emulator — an instruction without a memory
// operand, which the emulator does not perform: "vmx-ept cannot emulate the instruction".
//
// The guest, by hand: paging on with the directory at 0x2000, identity table at 0x3000
// (pages 0–15), and a table at 0x6000 mapping 4 MiB to frame 4 with 4 MiB + 4 KiB absent.
// After the set-up (157 instructions: 7, then the fill loop 16 × 9, then 6) a `reclaim`
// swaps every guest frame out, and `mov ebx, [0x400ffe]` straddles into the absent page.
// On a host with the minimum of five frames the 2-D walk faults in the directory, the
// identity table, the code page, the second table and frame 4 (five exits), then the
// guest's #PF (not present, supervisor read: error code 0, CR2 = 0x401000, the first byte
// of the later page, DESIGN §3.5.6) is delivered, which needs the IDT page and the stack
// page back (frames are reclaimed round-robin, so a page may fault twice): a streak of
// about eight exits, after which delivery succeeds and the handler's first instruction,
// `mov edx, 0x77`, faults on its own code page. The stack top moves the push by a page or
// within one, which moves the streak's length across THRASHING_STALLS.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { Engine, HostEvent, Image, MachineConfig } from '../../spec/observation.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { MIN_GUEST_FRAMES } from '../../src/vmm/core/host.ts';
import { diffObservations } from '../../properties/lockstep/compare.ts';

const guest = (stackTop: number) => `
      mov esp, ${stackTop}
      lidt [idt_desc]
      mov eax, 0x3003
      mov [0x2000], eax
      mov eax, 0x6003
      mov [0x2004], eax
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
      mov eax, 0x2000
      mov cr3, eax
      mov eax, 0x80000001
      mov cr0, eax
      mov ebx, [0x400ffe]
      hlt
    idt_desc:
      .db (15 * 8 - 1) & 0xFF, (15 * 8 - 1) >> 8
      .dd 0x7000
      .org 0x7000 + 14 * 8
      .dd (handler & 0xFFFF) | 0x80000, (handler & 0xFFFF0000) | 0x8E00
      .org 0x8000
    handler:
      mov edx, 0x77
      hlt`;

const events: HostEvent[] = [{ at: 157, kind: 'reclaim', frames: MIN_GUEST_FRAMES }];

const engines: [string, (i: Image, c: MachineConfig) => Engine][] = [
  ['vmx-ept', (i, c) => new VmxEptEngine(i, c, { hostGuestFrames: MIN_GUEST_FRAMES, maxEptTables: 1 })],
  ['vmx-shadow', (i, c) => new VmxShadowEngine(i, c, { hostGuestFrames: MIN_GUEST_FRAMES, maxShadowPages: 5, maxRoots: 1 })],
];

test.each(engines)('%s: a fault after a streak that ended is not thrashing', (_name, make) => {
  for (const stackTop of [0x9800, 0xa000, 0xa002, 0xa004]) {
    const image = assemble(guest(stackTop), 'thrash-streak.s').image;
    const config = { ramBytes: 0x10000 };
    const got = make(image, config).run(events, 400);
    expect(diffObservations(new SpecMachine(image, config).run(events, 400), got)).toEqual([]);
    expect([got.status, got.regs.edx, got.cr2, got.trace.map((t) => [t.kind, 'vector' in t ? t.vector : -1])]).toEqual([
      'halted',
      0x77,
      0x401000,
      [['exception', 14]],
    ]);
  }
});
