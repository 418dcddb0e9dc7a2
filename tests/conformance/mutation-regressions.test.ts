// Rules that mutation testing (npm run mutation, Stryker on spec/) showed no test pinned
// down. Each test is derived by hand from DESIGN §3 / the SDM; the mutant it kills is
// named in the comment.

import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine, runSpec } from '../../spec/machine.ts';

const CF = 0x1;
const SF = 0x80;
const run = (src: string, maxSteps = 20_000) => runSpec(assemble(src).image, { ramBytes: 1 << 20 }, [], maxSteps);
const word = (ram: Uint8Array, a: number) => (ram[a]! | (ram[a + 1]! << 8) | (ram[a + 2]! << 16) | (ram[a + 3]! << 24)) >>> 0;

/** Paging on: identity map of 0–4 MiB through one table, except PTE 0x80 (page 0x80000) not present. */
const PAGING = `
    mov ecx, 0
map: mov eax, ecx
    shl eax, 12
    or eax, 7
    mov ebx, ecx
    shl ebx, 2
    mov [ebx + 0x11000], eax
    inc ecx
    cmp ecx, 1024
    jne map
    mov eax, 0
    mov [0x11000 + 0x80 * 4], eax
    mov eax, 0x11007
    mov [0x10000], eax
    mov eax, 0x10000
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax
`;

describe('mutation regressions', () => {
  test('add: a sum of exactly 0xFFFFFFFF carries nothing (kills `a + b >= 2^32 - 1`)', () => {
    // SDM ADD: CF is the unsigned carry out of bit 31; 0xFFFFFFFE + 1 does not carry.
    const o = run('mov eax, 0xFFFFFFFE\nadd eax, 1\nhlt');
    expect(o.regs.eax).toBe(0xffffffff);
    expect(o.eflags & (CF | SF)).toBe(SF);
  });

  test('or: overlapping bits are kept (kills `or` falling through to `xor`)', () => {
    expect(run('mov eax, 0xC\nor eax, 0xA\nhlt').regs.eax).toBe(0xe); // 1100 | 1010 = 1110
  });

  test('sidt writes exactly 6 bytes: the 7th keeps its value (§3.4)', () => {
    const o = run('mov eax, 0xAAAAAAAA\nmov [0x5004], eax\nsidt [0x5000]\nhlt');
    expect(o.ram[0x5006]).toBe(0xaa);
    expect(o.ram[0x5007]).toBe(0xaa);
  });

  test('sidt to a not-present page is a #PF with W (§3.5.6), and writes nothing', () => {
    const o = run(`${PAGING}\n    sidt [0x80000]\n    hlt`);
    const pf = o.trace.find((e) => e.kind === 'exception');
    // No IDT: the #PF cannot be delivered (limit 0) — #PF then #GP is a #DF, then shutdown;
    // CR2 is written when the #PF is detected (§3.10.2).
    expect(o.status).toBe('shutdown');
    expect(pf).toBeUndefined();
    expect(o.cr2).toBe(0x80000);
  });

  test('an aligned word ending at a page boundary does not touch the next page (§3.5)', () => {
    // 0x7FFFC..0x7FFFF lies wholly in page 0x7F; page 0x80 is not present.
    const o = run(`${PAGING}\n    mov eax, [0x7FFFC]\n    mov ebx, 1\n    hlt`);
    expect(o.trace).toEqual([]);
    expect(o.regs.ebx).toBe(1);
    expect(o.cr2).toBe(0);
  });

  test('movzx reads one byte, whatever its neighbours hold (§3.3 op 14)', () => {
    const o = run('mov eax, 0x44332211\nmov [0x5000], eax\nmovzx ebx, byte [0x5000]\nhlt');
    expect(o.regs.ebx).toBe(0x11);
  });

  test('a 4 MiB page without US faults a user access (§3.5.2: permissions from the PDE)', () => {
    // PDE 1 maps 4–8 MiB supervisor-only (P RW PS, no US); ring 3 reads 0x400000.
    const src = `
    mov esp, 0x8000
    lidt [idtr]
    mov eax, tss
    ltr eax
    mov eax, 0x87
    mov [0x10000], eax
    mov eax, 0x400083
    mov [0x10004], eax
    mov eax, 0x10000
    mov cr3, eax
    mov eax, 0x10
    mov cr4, eax
    mov eax, 0x80000001
    mov cr0, eax
    push 0x43
    push 0x7000
    push 0x2
    push 0x3B
    push user
    iret
user: mov eax, [0x400000]
    hlt
pf: hlt
tss: .dd 0, 0x9000
idtr: .db 0x77, 0
    .dd idt
.align 8
idt: .zero 14 * 8
    .dd (pf & 0xFFFF) | 0x80000, (pf & 0xFFFF0000) | 0x8E00
`;
    const o = run(src);
    const pf = o.trace.find((e) => e.kind === 'exception' && e.vector === 14);
    expect(pf).toMatchObject({ errorCode: 0b101, cr2: 0x400000 }); // P (protection) | U
  });

  test('looking at the next instruction sets no A bit (a debugger look, STYLE §5)', () => {
    const src = `${PAGING}\n    nop\n    hlt`;
    const m = new SpecMachine(assemble(src).image, { ramBytes: 1 << 20 });
    m.run([], 20 + 10 * 1024); // up to the nop, paging on
    const pte0 = 0x11000; // the code page's PTE (page 0)
    const before = word(m.mem.ram, pte0);
    m.mem.ram[pte0] = m.mem.ram[pte0]! & ~0x20; // clear A, then look
    m.mem.ram[0x10000] = m.mem.ram[0x10000]! & ~0x20;
    expect(m.peekInsn()).toBeDefined();
    expect(word(m.mem.ram, pte0) & 0x20).toBe(0);
    expect(word(m.mem.ram, 0x10000) & 0x20).toBe(0);
    expect(before & 1).toBe(1);
  });
});
