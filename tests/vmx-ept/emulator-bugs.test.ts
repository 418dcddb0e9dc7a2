// The emulator's catalog bugs on vmx-ept (issue 20 item 3): nested paging performs
// instructions with the emulator of src/vmm/core, so it takes the emulator's switches
// (EMULATOR_BUGS) — and under forced emulation (the emulator in front of every EPT
// violation, as `popek check` runs one case in four) a planted emulator bug shows.
//
// The guest, by hand: paging off, the bytes 11 22 33 44 55 66 77 88 at 0x3000, then a
// byte store of 0xAB at 0x3001. The store's page is first touched by the store itself
// (its image page is mapped lazily): an EPT violation, which forced emulation performs in
// software. Two violations take the forced path: the code page's first fetch (`mov eax,
// imm` has no memory operand: it runs natively) and the store's page. DESIGN §3.4: a byte store writes one byte — 11 AB 33 44 55 66 77 88; the bug
// stores the whole register as a word — 11 AB 00 00 00 66 77 88.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { ENGINES } from '../../src/engines/registry.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { EMULATOR_BUGS } from '../../src/vmm/core/bugs.ts';
import { reproduceCommand, toReplayFile } from '../../properties/check/counterexample.ts';
import type { ReplayFile } from '../../properties/check/replay-file.ts';

const src = `
      mov eax, 0xAB
      mov byte [0x3001], al
      hlt
      .org 0x3000
      .db 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88`;

const bytesAfter = (bugs: string[], forceEmulation: boolean) => {
  const e = new VmxEptEngine(assemble(src, 'byte-store.s').image, { ramBytes: 0x10000, bugs }, { forceEmulation });
  const obs = e.run([], 100);
  return { ram: [...obs.ram.slice(0x3000, 0x3008)], forced: e.counters().forcedEmulations };
};

test('vmx-ept lists the emulator bugs and performs them under forced emulation', () => {
  expect(EMULATOR_BUGS.filter((b) => !Object.hasOwn(ENGINES['vmx-ept']!.bugs, b))).toEqual([]);
  const good = [0x11, 0xab, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
  expect(bytesAfter([], true).ram).toEqual(good);
  const buggy = bytesAfter(['emulated-byte-store-as-word'], true);
  expect(buggy).toEqual({ ram: [0x11, 0xab, 0, 0, 0, 0x66, 0x77, 0x88], forced: 2 });
  // Without forced emulation the hardware performs the store: the emulator's bug is not reached.
  expect(bytesAfter(['emulated-byte-store-as-word'], false).ram).toEqual(good);
});

test('a counterexample found with forced emulation keeps the flag, and is reproduced by replay', () => {
  const f = { popek: 'counterexample', version: 1, property: 'equivalence', engine: 'vmx-ept', bugs: [], seed: 1, path: '' };
  const found = { ...f, source: '', events: [], ramBytes: 0x20000, maxSteps: 256, instructions: 1, divergence: 'x' } as ReplayFile;
  expect(toReplayFile({ ...found, forcedEmulation: true }).forcedEmulation).toBe(true);
  expect(reproduceCommand({ ...found, forcedEmulation: true }, 'c.s', undefined, 'c.json')).toBe('popek replay c.json');
  expect(reproduceCommand(found, 'c.s', undefined, 'c.json')).toMatch(/^popek diff c\.s --engine vmx-ept /);
});
