// Instruction semantics, decode and the physical address space (DESIGN §3.2–3.4) on the
// native engine. Expected values come from DESIGN §3, worked out by hand.

import { describe, expect, test } from 'vitest';
import { boot, run, word } from './helpers.ts';

const CF = 1;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;

describe('ALU and flags (DESIGN §3.4)', () => {
  test.each([
    ['mov eax, 0x7fffffff\n add eax, 1', 0x80000000, SF | OF],
    ['mov eax, 0xffffffff\n add eax, 1', 0, CF | ZF],
    ['mov eax, 0\n sub eax, 1', 0xffffffff, CF | SF],
    ['mov eax, 0x80000000\n sub eax, 1', 0x7fffffff, OF],
    ['mov eax, 0x80000000\n neg eax', 0x80000000, CF | SF | OF],
    ['mov eax, 0\n neg eax', 0, ZF],
    ['mov eax, 0xffffffff\n add eax, 1\n inc eax', 1, CF], // inc keeps CF
    ['mov eax, 0x80000000\n dec eax', 0x7fffffff, OF],
    ['mov eax, 0xf0\n and eax, 0x0f', 0, ZF],
    ['mov eax, 0xc0000000\n shl eax, 1', 0x80000000, CF | SF], // OF = MSB(result) xor CF = 0
    ['mov eax, 0x40000000\n shl eax, 1', 0x80000000, SF | OF],
    ['mov eax, 0x80000001\n shr eax, 1', 0x40000000, CF | OF], // OF = MSB(original)
    ['mov eax, 0x80000003\n sar eax, 2', 0xe0000000, CF | SF],
    ['mov eax, 0x80000003\n shl eax, 0', 0x80000003, 0], // count 0: no change
    ['mov eax, 5\n cmp eax, 7', 5, CF | SF],
    ['mov eax, 5\n not eax', 0xfffffffa, 0],
  ])('%s', (body, eax, flags) => {
    const o = run(`${body}\n hlt`);
    expect(o.regs.eax).toBe(eax);
    expect(o.eflags).toBe(0x2 | flags);
    expect(o.status).toBe('halted');
  });

  test('jcc follows x86 condition order', () => {
    // cmp 3, 5: CF=1 SF=1 OF=0 ZF=0 → b, be, l, le, ne, s taken; ae, a, ge, g, e, ns, o not.
    const conds = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'l', 'ge', 'le', 'g'];
    const src = [' mov eax, 3', ' mov esi, 0'];
    // `or` changes flags, so compare again before each jump.
    conds.forEach((c, i) => src.push(' cmp eax, 5', ` j${c} t${i}`, ` jmp n${i}`, `t${i}:`, ` or esi, ${1 << i}`, `n${i}:`));
    src.push(' hlt');
    const o = run(src.join('\n'));
    const taken = conds.filter((_, i) => (o.regs.esi & (1 << i)) !== 0);
    expect(taken).toEqual(['no', 'b', 'ne', 'be', 's', 'l', 'le']);
  });
});

describe('stack, calls, memory', () => {
  test('push/pop/call/ret, push esp pushes the old value, pop esp loads', () => {
    const o = run(`
      mov esp, 0x9000
      push esp
      pop ebx
      call f
      mov ecx, 1
      push 0x1234
      pop esp
      hlt
    f: mov edx, [esp]
      ret
    `);
    expect(o.regs.ebx).toBe(0x9000);
    expect(o.regs.edx).toBe(0x20); // return address: call at 0x18 + 8
    expect(o.regs.ecx).toBe(1);
    expect(o.regs.esp).toBe(0x1234);
  });

  test('byte loads and stores, lea, unaligned words, little-endian', () => {
    const o = run(`
      mov eax, 0x11223344
      mov [0x5001], eax
      movzx ebx, byte [0x5002]
      mov ecx, 0xabcd
      mov byte [0x5000], cl
      mov edx, [0x5000]
      mov esi, 0x5000
      lea edi, [esi - 0x10]
      hlt
    `);
    expect(o.regs.ebx).toBe(0x33);
    expect(o.regs.edx).toBe(0x223344cd);
    expect(o.regs.edi).toBe(0x4ff0);
    expect(word(o.ram, 0x5004)).toBe(0x11);
  });

  test('in/out: port 0xE9 console, other ports read all ones', () => {
    const o = run(`
      mov eax, 'o'
      out 0xE9, eax
      mov eax, 0x14b
      out 0xE9, eax
      out 0x80, eax
      in ebx, 0xE9
      in ecx, 0x60
      hlt
    `);
    expect(o.console).toBe('oK');
    expect(o.regs.ebx).toBe(0xe9);
    expect(o.regs.ecx).toBe(0xffffffff);
  });

  test('system registers: lidt/sidt, ltr/str, mov a, cs, mov crN', () => {
    const o = run(`
      lidt [desc]
      sidt [0x5000]
      mov eax, 0x7000
      ltr eax
      str ebx
      mov ecx, cs
      mov edx, 0x12345678
      mov cr3, edx
      mov esi, cr3
      mov cr2, edx
      mov edi, cr2
      mov eax, 0x10
      mov cr4, eax
      hlt
    desc: .db 0xff, 0x07
      .dd 0xabcd0000
    `);
    expect(o.idtr).toEqual({ base: 0xabcd0000, limit: 0x7ff });
    expect(word(o.ram, 0x5000)).toBe(0x000007ff);
    expect(word(o.ram, 0x5002)).toBe(0xabcd0000);
    expect(o.tr).toBe(0x7000);
    expect(o.regs.ebx).toBe(0x7000);
    expect(o.regs.ecx).toBe(0x08);
    expect(o.regs.esi).toBe(0x12345000);
    expect(o.cr3).toBe(0x12345000);
    expect(o.regs.edi).toBe(0x12345678);
    expect(o.cr4).toBe(0x10);
  });
});

describe('physical address space (DESIGN §3.2)', () => {
  test('MMIO device: ID, COUNTER read-increment, LOG, open bus around it', () => {
    const o = run(`
      mov eax, [0xFEE00000]
      mov ebx, [0xFEE00004]
      mov ebx, [0xFEE00004]
      mov [0xFEE00008], ebx
      mov ecx, [0xFEE00008]
      movzx edx, byte [0xFEE00004]
      mov esi, [0xFEE00005]
      mov edi, [0x80000000]
      mov [0xFEE0000C], eax
      mov ebp, [0xFEE0000C]
      mov byte [0xFEE00008], al
      hlt
    `);
    expect(o.regs.eax).toBe(0x32335856);
    expect(o.regs.ebx).toBe(1);
    expect(o.regs.ecx).toBe(1);
    expect(o.regs.edx).toBe(0xff); // a byte access in the window is open bus
    expect(o.regs.esi).toBe(0xffffffff);
    expect(o.regs.edi).toBe(0xffffffff);
    expect(o.regs.ebp).toBe(0);
    expect(o.device).toEqual({ counter: 2, log: [1] }); // the byte read did not count
  });

  test('a write to COUNTER sets it', () => {
    const o = run(`
      mov eax, 41
      mov [0xFEE00004], eax
      mov ebx, [0xFEE00004]
      hlt
    `);
    expect(o.regs.ebx).toBe(41);
    expect(o.device.counter).toBe(42);
  });

  test('RAM beyond ramBytes is open bus; the image is loaded at its .org', () => {
    const o = run(`
      mov [0x100000], eax
      mov eax, [0x100000]
      mov ebx, [data]
      hlt
    data: .dd 0xcafef00d
    `);
    expect(o.regs.eax).toBe(0xffffffff);
    expect(o.regs.ebx).toBe(0xcafef00d);
    expect(o.ram.length).toBe(1 << 20);
  });
});

describe('decode (DESIGN §3.3)', () => {
  // With no IDT every exception ends in a triple fault; the first divergence from a
  // clean decode is visible as status shutdown at icount 0.
  test.each([
    ['zeroed memory', '.dd 0, 0'],
    ['ud2', '.db 0x03, 0, 0, 0\n .dd 0'],
    ['byte 3 nonzero', '.db 0x01, 0, 0, 1\n .dd 0'],
    ['A bits 3-7', '.db 0x11, 0x08, 0, 0\n .dd 0'],
    ['unused imm', '.db 0x01, 0, 0, 0\n .dd 1'],
    ['unused register field', '.db 0x33, 0, 1, 0\n .dd 0'],
    ['NOBASE on a non-memory op', '.db 0x10, 0, 0x08, 0\n .dd 0'],
    ['NOBASE with b != 0', '.db 0x12, 0, 0x09, 0\n .dd 0'],
    ['int 256', '.db 0x64, 0, 0, 0\n .dd 256'],
    ['out port 0x10000', '.db 0x67, 0, 0, 0\n .dd 0x10000'],
    ['shl 32', '.db 0x30, 0, 0, 0\n .dd 32'],
    ['jcc 5A', '.db 0x5a, 0, 0, 0\n .dd 0'],
    ['mov cr1', '.db 0x70, 0, 1, 0\n .dd 0'],
    ['mov cr5', '.db 0x71, 0, 5, 0\n .dd 0'],
    ['undefined 0xFF', '.db 0xff, 0, 0, 0\n .dd 0'],
  ])('%s is #UD', (_name, bytes) => {
    const o = run(bytes);
    expect(o.status).toBe('shutdown');
    expect(o.icount).toBe(0);
  });

  test.each([
    ['NOBASE with b = 0 on a load', '.db 0x12, 0, 0x08, 0\n .dd 0x10\n hlt'],
    ['NOBASE on lea', '.db 0x16, 0, 0x08, 0\n .dd 0x10\n hlt'],
  ])('%s decodes', (_name, bytes) => {
    expect(run(bytes).status).toBe('halted');
  });

  test('decode #UD comes before the privilege check', () => {
    // `mov cr1, eax` at cpl 0 with a working #UD handler: vector 6, not 13.
    const { engine } = boot(`
      lidt [idtr]
      .db 0x70, 0, 1, 0
      .dd 0
    ud: hlt
    .org 0x3000
      .dd (0x08 << 16) | ud, 0x8e00
    idtr: .db 55, 0
      .dd 0x2fd0
    `);
    const o = engine.run([], 100);
    expect(o.trace).toEqual([{ icount: 1, kind: 'exception', vector: 6, eip: 8 }]);
  });
});
