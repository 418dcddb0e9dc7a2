// DESIGN §3.1 — state and reset; §3.10.13 initial state. Expected values by hand.
import { describe, expect, test } from 'vitest';
import { CF, FIXED, IF, IOPL3, OF, SF, ZF, run } from './harness.ts';

describe('§3.1 state and reset', () => {
  test('reset state, observed after a single hlt', () => {
    const r = run('.org 0x1000\n    hlt');
    expect(r.status).toBe('halted'); // §3.7: hlt retires, then halts; no event left (§3.8)
    expect(r.icount).toBe(1); // §3.10.8: hlt retires before halting
    expect(r.eip).toBe(0x1008); // hlt retired: eip = next instruction
    expect(r.regs).toEqual({ eax: 0, ecx: 0, edx: 0, ebx: 0, esp: 0, ebp: 0, esi: 0, edi: 0 }); // §3.1: GPRs 0
    expect(r.eflags).toBe(0x2); // §3.1: eflags = 0x2
    expect(r.cpl).toBe(0); // §3.1
    expect(r.cr0).toBe(0x1); // §3.1: cr0 = 0x1 (PE)
    expect([r.cr2, r.cr3, r.cr4]).toEqual([0, 0, 0]); // §3.1
    expect(r.idtr).toEqual({ base: 0, limit: 0 }); // §3.1
    expect(r.tr).toBe(0); // §3.1
    expect(r.console).toBe(''); // nothing written to port 0xE9
    expect(r.device).toEqual({ counter: 0, log: [] }); // §3.10.13: COUNTER 0, LOG empty
    expect(r.trace).toEqual([]);
    expect(r.pending).toEqual([]);
    expect(r.ram.length).toBe(1 << 20); // §3.2: default 1 MiB
  });

  test('eip at reset is the .entry label, not the first instruction', () => {
    const r = run('.org 0x2000\n    mov eax, 1\n    hlt\n.org 0x3000\ngo: mov eax, 2\n    hlt\n.entry go');
    expect(r.regs.eax).toBe(2); // §3.1: eip = image entry (§3.9 .entry)
    expect(r.eip).toBe(0x3010); // after `hlt` at 0x3008
    expect(r.icount).toBe(2);
  });

  test('without .entry the first instruction is the entry', () => {
    const r = run('.org 0x2000\n    mov ebx, 9\n    hlt');
    expect(r.regs.ebx).toBe(9); // §3.9: .entry default is the first instruction
  });

  test('pushf at reset pushes 0x2 (bit 1 always 1)', () => {
    const r = run('.org 0x1000\n    mov esp, 0x8000\n    pushf\n    pop eax\n    hlt');
    expect(r.regs.eax).toBe(0x2); // §3.1: eflags = 0x2 at reset
  });

  test('popf of 0xFFFFFFFF at cpl 0 sets exactly CF|1|ZF|SF|IF|OF|IOPL', () => {
    const r = run('.org 0x1000\n    mov esp, 0x8000\n    push 0xFFFFFFFF\n    popf\n    pushf\n    pop eax\n    hlt');
    // §3.1: every other bit reads 0; §3.4: at cpl 0 (≤ IOPL) popf may change IF and IOPL.
    const expected = CF | FIXED | ZF | SF | IF | OF | IOPL3; // 0x3AC3
    expect(expected).toBe(0x3ac3);
    expect(r.regs.eax).toBe(expected);
    expect(r.eflags).toBe(expected);
  });

  test('popf of 0 leaves only bit 1', () => {
    const r = run('.org 0x1000\n    mov esp, 0x8000\n    push 0xFFFFFFFF\n    popf\n    push 0\n    popf\n    hlt');
    expect(r.eflags).toBe(0x2); // §3.1: bit 1 always 1, written 0 elsewhere
  });

  test('popf ignores undefined bits (AF, PF, TF, DF, NT, bits 14–31)', () => {
    // 0x2 | AF 0x10 | PF 0x4 | TF 0x100 | DF 0x400 | NT 0x4000 | 0xFFFF8000
    const r = run('.org 0x1000\n    mov esp, 0x8000\n    push 0xFFFFC514\n    popf\n    hlt');
    expect(r.eflags).toBe(0x2); // §3.1: other bits read 0 and ignore writes
  });

  test('control registers, idtr, tr and CS read their reset values', () => {
    const r = run(
      [
        '.org 0x1000',
        '    mov eax, cr0',
        '    mov ecx, cr2',
        '    mov edx, cr3',
        '    mov ebx, cr4',
        '    str esi',
        '    mov edi, cs',
        '    sidt [0x5000]',
        '    hlt',
        '.org 0x5000',
        '    .db 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE',
      ].join('\n'),
    );
    expect(r.regs.eax).toBe(1); // §3.1: cr0 = 0x1
    expect([r.regs.ecx, r.regs.edx, r.regs.ebx]).toEqual([0, 0, 0]); // §3.1: cr2 = cr3 = cr4 = 0
    expect(r.regs.esi).toBe(0); // §3.1: tr = 0
    expect(r.regs.edi).toBe(0x08); // §3.1: CS = 0x08 + 0x11*0
    expect(Array.from(r.ram.subarray(0x5000, 0x5008))).toEqual([0, 0, 0, 0, 0, 0, 0xee, 0xee]); // §3.4 sidt: 6 bytes {limit 0, base 0}
  });

  test('RAM is zero except the loaded image (§3.10.13)', () => {
    const r = run('.org 0x1000\n    hlt\n.org 0x4000\n    .db 1, 2, 3\n.org 0x80000\n    .dd 0xCAFEBABE');
    expect(r.r8(0x1000)).toBe(0x02); // hlt opcode 02 (§3.3 table)
    expect(Array.from(r.ram.subarray(0x4000, 0x4004))).toEqual([1, 2, 3, 0]);
    expect(r.r32(0x80000)).toBe(0xcafebabe);
    expect(r.r32(0x0)).toBe(0);
    expect(r.r32(0xffffc)).toBe(0);
    expect(r.ram.reduce((s, b) => s + (b !== 0 ? 1 : 0), 0)).toBe(1 + 3 + 4); // hlt has 1 non-zero byte
  });

  test('ramBytes sets the RAM size', () => {
    const r = run('.org 0x1000\n    hlt', { ramBytes: 0x3000 });
    expect(r.ram.length).toBe(0x3000); // §3.2: RAM [0, ramBytes)
  });
});
