// The interpreter's guest physical memory against DESIGN §3.2: RAM size and image checks,
// the MMIO device's registers, open bus for data accesses, and page-structure reads
// beyond RAM. Expected values are read off §3.2 by hand: ID = 0x32335856; COUNTER "a
// read returns the value and then increments it; a write sets it"; LOG "a write appends
// the value to the device log; a read returns the log length"; other offsets read 0 and
// ignore writes; open bus reads 0xFF per byte and drops writes.

import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { InterpretEngine } from '../../src/engines/interpret.ts';
import { PD, boot, run, word } from './harness.ts';

describe('RAM size and image (§3.2, §3.10.13)', () => {
  const image = assemble('hlt', 'test.s').image;

  test.each([0, -4096, 1000, 4096 * 1.5, Number.NaN])('%s bytes of RAM is refused', (ramBytes) => {
    expect(() => new InterpretEngine(image, { ramBytes })).toThrow(RangeError);
  });

  test('an image chunk must lie inside RAM', () => {
    expect(() => new InterpretEngine(assemble('.org 0xffc\n.dd 1', 'test.s').image, { ramBytes: 4096 })).not.toThrow();
    expect(() => new InterpretEngine(assemble('.org 0xffd\n.dd 1', 'test.s').image, { ramBytes: 4096 })).toThrow(RangeError);
    expect(() => new InterpretEngine(assemble('.org 0x1000\n.db 1', 'test.s').image, { ramBytes: 4096 })).toThrow(RangeError);
  });
});

describe('the MMIO device (§3.2)', () => {
  const o = run(`
  mov ebx, 0xFEE00000
  mov eax, [ebx]          ; ID
  mov ecx, 5
  mov [ebx + 4], ecx      ; COUNTER = 5
  mov ecx, [ebx + 4]      ; 5, and COUNTER becomes 6
  mov edx, [ebx + 4]      ; 6, and COUNTER becomes 7
  mov esi, 0xABC
  mov [ebx + 8], esi      ; log 0xABC
  mov [ebx + 8], ecx      ; log 5
  mov esi, [ebx + 8]      ; the log length: 2
  mov edi, 0x77
  mov [ebx], edi          ; ID is read-only
  mov edi, [ebx]
  mov ebp, [ebx + 12]     ; other offsets read 0 …
  mov [ebx + 12], ecx     ; … and ignore writes
  mov esp, [ebx + 2]      ; not aligned: open bus, not the device
  hlt
`);

  test('ID, COUNTER, LOG and the other offsets', () => {
    expect(o.status).toBe('halted');
    expect(o.regs.eax).toBe(0x32335856);
    expect([o.regs.ecx, o.regs.edx]).toEqual([5, 6]);
    expect(o.regs.esi).toBe(2);
    expect(o.regs.edi).toBe(0x32335856);
    expect(o.regs.ebp).toBe(0);
    expect(o.device).toEqual({ counter: 7, log: [0xabc, 5] });
  });

  test('an unaligned access to the window is open bus', () => {
    expect(o.regs.esp).toBe(0xffffffff);
  });
});

describe('open bus beyond RAM (§3.2)', () => {
  test('reads are 0xFF per byte, writes are dropped, and an access straddling the end of RAM is both', () => {
    const o = run(
      `
  mov eax, 0x12345678
  mov [0x20000], eax      ; dropped
  mov ebx, [0x20000]
  mov eax, 0x2211
  mov [0xFFFC], eax       ; RAM bytes FFFC..FFFF = 11 22 00 00
  mov ecx, [0xFFFE]       ; 00 00 from RAM, FF FF from open bus
  hlt
`,
      [],
      1000,
      { ramBytes: 0x10000 },
    );
    expect(o.regs.ebx).toBe(0xffffffff);
    expect(o.regs.ecx).toBe(0xffff0000);
  });

  test('a page table beyond RAM reads as all ones: present, writable, user, frame 0xFFFFF000 — open bus again', () => {
    // PDE 1 (4–8 MiB) points to a "table" at 0x20000, above the 64 KiB of RAM: every PTE
    // reads 0xFFFFFFFF (§3.2: walks read 0xFF bytes there), so 0x400000 maps to the frame
    // 0xFFFFF000, itself open bus; the walk's A/D writes are dropped (§3.5.5).
    const { engine } = boot(
      `
  mov eax, 0x20007
  mov [${PD} + 4], eax
  mov eax, 0x87           ; PDE 0: a 4 MiB identity page (P, RW, US, PS)
  mov [${PD}], eax
  mov eax, 0x10
  mov cr4, eax            ; PSE
  mov eax, ${PD}
  mov cr3, eax
  mov eax, 0x80000001
  mov cr0, eax
  mov eax, [0x400000]
  mov ebx, 0x55
  mov [0x400000], ebx     ; writable: no fault, and dropped
  hlt
`,
      { ramBytes: 0x20000 },
    );
    const o = engine.run([], 1000);
    expect(o.status).toBe('halted');
    expect(o.trace).toEqual([]);
    expect(o.regs.eax).toBe(0xffffffff);
    expect(word(o.ram, PD)).toBe(0x87 | 0x20); // the 4 MiB page of the code: A set by the fetches, no store through it
  });
});

describe('reset (§3.1)', () => {
  test('execution starts at the image entry, not at 0', () => {
    // At 0 a `mov eax, 2`, never executed; the entry is 0x100.
    const o = run(`
  mov eax, 2
  hlt
.org 0x100
start:
  mov eax, 1
  hlt
.entry start
`);
    // `hlt` retires before halting (§3.7): two instructions, eip past the hlt.
    expect([o.regs.eax, o.icount, o.eip]).toEqual([1, 2, 0x110]);
  });
});
