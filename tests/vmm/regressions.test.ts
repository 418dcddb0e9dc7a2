// Named regressions of vmx-shadow (STYLE §7): shrunk counterexamples the suite found
// while the VMM was written, each with the fix it forced.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { HostEvent } from '../../spec/observation.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';

function equivalent(source: string, events: HostEvent[] = [], ramBytes = 0x20000): void {
  const { image } = assemble(source, 'regression.s');
  const r = lockstep((i, c) => new VmxShadowEngine(i, c), { image, config: { ramBytes }, events, maxSteps: 200 });
  expect(r.divergence?.fields ?? []).toEqual([]);
  expect(r.spec.status).toBe(new SpecMachine(image, { ramBytes }).run(events, 200).status);
}

// The code page doubles as a page table (PDE 1 → frame 0 without PSE): the store's
// translation sets A and D in the instruction's own first word, and the target is open
// bus, so the store is emulated. The emulator must use the bytes the hardware fetched,
// not re-fetch the instruction after the walk changed them (fix: Emulator.prefetch).
test('a store whose walk sets A/D in its own instruction bytes (seed 99, run 3691)', () => {
  equivalent(`
    mov eax, 0x15000
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax
    mov byte [0x408010], al       ; at 0x20: its first word is PTE 8 of the table at gpa 0
    hlt
  .org 0x15000
    .dd 0x17000 | 7, 0x0 | 7
  .org 0x17000
    .dd 0x0 | 7, 0x1000 | 7
  `);
});

// An irq raised while IF = 0, then sti; int 32: the interrupt must wait for the boundary
// after the int's delivery even though that delivery took hidden faults — the STI shadow
// survives a fault-like exit, and an injected event is the step that consumes it.
test('an irq pending across sti; int n whose delivery takes hidden faults (seed 7)', () => {
  equivalent(
    `
    mov esp, 0x9000
    lidt [idt_desc]
    mov eax, 0x15000
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax
    sti
    int 32
    push eax
    hlt
  handler:
    iret
  idt_desc: .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x10000 + 8 * 32
    .dd (handler & 0xFFFF) | (0x08 << 16), (handler & 0xFFFF0000) | 0x8F00
  .org 0x15000
    .dd 0x17000 | 7
  .org 0x17000
    .dd 0x0 | 7, 0x1000 | 7, 0x2000 | 7, 0x3000 | 7, 0x4000 | 7, 0x5000 | 7, 0x6000 | 7, 0x7000 | 7, 0x8000 | 7
    .dd 0x9000 | 7, 0xA000 | 7, 0xB000 | 7, 0xC000 | 7, 0xD000 | 7, 0xE000 | 7, 0xF000 | 7, 0x10000 | 7
  `,
    [{ at: 0, kind: 'irq', vector: 32 }],
  );
});

// A split 4 MiB page outlived the gpde that named it (the guest cleared PDE 1): its
// writable leaves, made for a gpde with D set, would have served the next gpde naming
// the same page with D clear. Found by the audit property (seed 31). Fix: a split page
// is zapped with its last parent, and is writable only while every parent has D.
test('a split 4 MiB page does not outlive its gpde (audit, seed 31)', () => {
  const { image } = assemble(
    `
    mov eax, 0x15000
    mov cr3, eax
    mov eax, 0x10
    mov cr4, eax
    mov eax, 0x80000001
    mov cr0, eax
    mov eax, 0x0 | 0x80 | 1 | 0x40
    mov [0x15004], eax
    mov [0x411040], ebx
    mov eax, 0
    mov [0x15004], eax
    mov eax, 0x0 | 0x80 | 1
    mov [0x15004], eax
    mov [0x411040], ebx
    hlt
  .org 0x15000
    .dd 0x17000 | 7
  .org 0x17000
    .dd 0x0 | 7, 0x1000 | 7, 0x2000 | 7, 0x3000 | 7, 0x4000 | 7, 0x5000 | 7, 0x6000 | 7, 0x7000 | 7, 0x8000 | 7
    .dd 0x9000 | 7, 0xA000 | 7, 0xB000 | 7, 0xC000 | 7, 0xD000 | 7, 0xE000 | 7, 0xF000 | 7, 0x10000 | 7
    .dd 0x11000 | 7, 0x12000 | 7, 0x13000 | 7, 0x14000 | 7, 0x15000 | 7, 0x16000 | 7, 0x17000 | 7
  `,
    'regression.s',
  );
  const e = new VmxShadowEngine(image, { ramBytes: 0x20000 }, { auditEveryExit: true });
  const spec = new SpecMachine(image, { ramBytes: 0x20000 }).run([], 100);
  const got = e.run([], 100);
  expect(got.ram[0x15004]).toBe(spec.ram[0x15004]); // the second store set D in the new PDE
  expect(got.ram.join()).toBe(spec.ram.join());
});

// An instruction in the last 4 bytes of RAM: its fetch reads 4 bytes of open bus (0xFF,
// DESIGN §3.2), so `mov eax, imm` gets imm = 0xFFFFFFFF. Open-bus gfns used to be left
// unmapped, which sent the fetch to the emulator — which handles memory instructions only,
// and threw. They now map a read-only all-ones pool frame (ShadowMmu.onesHfn).
test('a fetch that crosses from the end of RAM into open bus (found after the session review)', () => {
  equivalent(
    `
    jmp 0xFFFC
  .org 0xFFFC
    .db 0x11, 0, 0, 0
  `,
    [],
    0x10000,
  );
});

// `ret` pops 0xFFFFFFFF from open bus; the next fetch straddles from open bus into page 0
// and must be #UD (0xFF), then a triple fault (no IDT). Under forced emulation the
// emulator took eip 0xFFFFFFFF — −1 as an int32 — for its "no prefetched bytes" sentinel
// −1 and ran the stale `ret` again. Found by insn-states with forceEmulation (seed
// 0x1a5e57a7, case 321). Fix: the sentinel is null.
test('an emulated fetch at eip 0xFFFFFFFF uses its own bytes, not a stale prefetch', () => {
  const { image } = assemble('mov esp, 0x10000\nret\n', 'regression.s');
  const config = { ramBytes: 0x10000 };
  const r = lockstep((i, c) => new VmxShadowEngine(i, c, { forceEmulation: true }), { image, config, events: [], maxSteps: 10 });
  expect(r.divergence?.fields ?? []).toEqual([]);
  expect(r.spec.status).toBe('shutdown');
});
