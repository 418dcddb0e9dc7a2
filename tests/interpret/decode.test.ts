// The interpreter's own decoder against DESIGN §3.3: every #UD rule, and the decoded
// form of a few encodings. Bytes are written out by hand from the §3.3 table.

import { describe, expect, test } from 'vitest';
import { decode } from '../../src/vmm/interpret/decode.ts';

/** op A B 0 imm32 (little-endian), as §3.3 lays an instruction out. */
function insn(op: number, A = 0, B = 0, imm = 0, byte3 = 0): Uint8Array {
  return Uint8Array.of(op, A, B, byte3, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, imm >>> 24);
}

describe('decode: valid encodings (DESIGN §3.3)', () => {
  test('mov a, [b + imm]', () => {
    expect(decode(insn(0x12, 1, 3, 0x10))).toEqual({ op: 'load', a: 1, base: 3, disp: 0x10 });
  });
  test('NOBASE memory operand has no base register', () => {
    expect(decode(insn(0x13, 2, 0x8, 0x1000))).toEqual({ op: 'store', a: 2, base: -1, disp: 0x1000 });
  });
  test('lea accepts NOBASE (§3.10.10)', () => {
    expect(decode(insn(0x16, 0, 0x8, 5))).toEqual({ op: 'lea', a: 0, base: -1, disp: 5 });
  });
  test('jcc: cond = op & 0xF (0x5F is jg)', () => {
    expect(decode(insn(0x5f, 0, 0, 0x40))).toEqual({ op: 'jcc', cond: 0xf, target: 0x40 });
  });
  test('mov cr3, eax: N in B bits 0–2', () => {
    expect(decode(insn(0x70, 0, 3))).toEqual({ op: 'mov-to-cr', cr: 3, a: 0 });
  });
  test('the largest legal immediates: int 255, shl 31, in 0xFFFF', () => {
    expect(decode(insn(0x64, 0, 0, 255))).toEqual({ op: 'int', vector: 255 });
    expect(decode(insn(0x30, 1, 0, 31))).toEqual({ op: 'shift', fn: 'shl', a: 1, count: 31 });
    expect(decode(insn(0x66, 0, 0, 0xffff))).toEqual({ op: 'in', a: 0, port: 0xffff });
  });
});

describe('decode: #UD (DESIGN §3.3, §3.10.10)', () => {
  test.each([
    ['op 00 (zeroed memory traps)', insn(0x00)],
    ['ud2', insn(0x03)],
    ['an undefined opcode (0x27)', insn(0x27)],
    ['byte 3 non-zero', insn(0x01, 0, 0, 0, 1)],
    ['A bits 3–7 set', insn(0x10, 0x08, 0)],
    ['B bits 4–7 set', insn(0x10, 0, 0x10)],
    ['unused register field (nop with A = 1)', insn(0x01, 1)],
    ['unused imm (mov a, b with imm)', insn(0x10, 0, 1, 4)],
    ['unused b (push imm with B = 2)', insn(0x46, 0, 2, 4)],
    ['NOBASE on a non-memory opcode (add)', insn(0x20, 0, 0x8)],
    ['NOBASE with b ≠ 0', insn(0x12, 0, 0x9, 0)],
    ['lidt with a register a', insn(0x72, 1, 0, 0)],
    ['int imm > 255', insn(0x64, 0, 0, 256)],
    ['in imm > 0xFFFF', insn(0x66, 0, 0, 0x10000)],
    ['shift imm > 31', insn(0x31, 0, 0, 32)],
    ['mov cr1', insn(0x70, 0, 1)],
    ['mov cr5', insn(0x71, 0, 5)],
    ['mov crN with NOBASE', insn(0x70, 0, 0x8 | 3)],
    ['jp (0x5A)', insn(0x5a, 0, 0, 0)],
    ['jnp (0x5B)', insn(0x5b, 0, 0, 0)],
  ])('%s', (_name, bytes) => {
    expect(decode(bytes)).toBeUndefined();
  });
});
