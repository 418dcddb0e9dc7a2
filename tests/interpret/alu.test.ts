// Flag rules of DESIGN §3.4 on the interpreter's ALU, with expected flags worked out by
// hand (IA-32 semantics, SDM vol. 2 for ADD/SUB/NEG/SHL/SHR/SAR).

import { describe, expect, test } from 'vitest';
import { alu, condition, shift, unary } from '../../src/vmm/interpret/alu.ts';
import { ControlBlock } from '../../src/vmm/interpret/control-block.ts';
import { EFLAGS_CF as CF, EFLAGS_OF as OF, EFLAGS_SF as SF, EFLAGS_ZF as ZF } from '../../src/hw/arch.ts';

const FLAGS = CF | ZF | SF | OF;

function withFlags(eflags: number): ControlBlock {
  const cb = new ControlBlock(0);
  cb.eflags = eflags;
  return cb;
}

describe('two-operand group', () => {
  test('add 0x7FFFFFFF + 1: signed overflow, no carry, negative', () => {
    const cb = withFlags(0x2);
    expect(alu(cb, 'add', 0x7fffffff, 1)).toBe(0x80000000);
    expect(cb.eflags & FLAGS).toBe(SF | OF);
  });
  test('add 0xFFFFFFFE + 1: exactly 0xFFFFFFFF, no carry', () => {
    const cb = withFlags(0x2 | CF);
    expect(alu(cb, 'add', 0xfffffffe, 1)).toBe(0xffffffff);
    expect(cb.eflags & FLAGS).toBe(SF);
  });
  test('add 0xFFFFFFFF + 1: carry and zero, no overflow', () => {
    const cb = withFlags(0x2);
    expect(alu(cb, 'add', 0xffffffff, 1)).toBe(0);
    expect(cb.eflags & FLAGS).toBe(CF | ZF);
  });
  test('sub 0 − 1: borrow, negative, no overflow', () => {
    const cb = withFlags(0x2);
    expect(alu(cb, 'sub', 0, 1)).toBe(0xffffffff);
    expect(cb.eflags & FLAGS).toBe(CF | SF);
  });
  test('cmp 0x80000000, 1: overflow (negative − positive = positive), no write-back', () => {
    const cb = withFlags(0x2);
    expect(alu(cb, 'cmp', 0x80000000, 1)).toBe(-1);
    expect(cb.eflags & FLAGS).toBe(OF);
  });
  test('logic ops clear CF and OF', () => {
    const cb = withFlags(0x2 | CF | OF);
    expect(alu(cb, 'xor', 5, 5)).toBe(0);
    expect(cb.eflags & FLAGS).toBe(ZF);
  });
});

describe('shifts (count 0 changes nothing; OF defined for count 1, else 0)', () => {
  test('shl by 0 keeps every flag', () => {
    const cb = withFlags(0x2 | CF | OF);
    expect(shift(cb, 'shl', 0x80000000, 0)).toBe(0x80000000);
    expect(cb.eflags & FLAGS).toBe(CF | OF);
  });
  test('shl 0x40000000 by 1: CF 0, MSB(result) 1 → OF 1', () => {
    const cb = withFlags(0x2);
    expect(shift(cb, 'shl', 0x40000000, 1)).toBe(0x80000000);
    expect(cb.eflags & FLAGS).toBe(SF | OF);
  });
  test('shl 0xC0000000 by 2: CF = last bit out (1), OF 0 for counts > 1', () => {
    const cb = withFlags(0x2);
    expect(shift(cb, 'shl', 0xc0000000, 2)).toBe(0);
    expect(cb.eflags & FLAGS).toBe(CF | ZF);
  });
  test('shr 0x80000001 by 1: CF 1, OF = MSB(original) = 1', () => {
    const cb = withFlags(0x2);
    expect(shift(cb, 'shr', 0x80000001, 1)).toBe(0x40000000);
    expect(cb.eflags & FLAGS).toBe(CF | OF);
  });
  test('shl 0xC0000000 by 1: CF 1 and MSB(result) 1 agree → OF 0', () => {
    const cb = withFlags(0x2);
    expect(shift(cb, 'shl', 0xc0000000, 1)).toBe(0x80000000);
    expect(cb.eflags & FLAGS).toBe(CF | SF);
  });
  test('shl 0x80000000 by 1: CF 1, MSB(result) 0 → OF 1', () => {
    const cb = withFlags(0x2);
    expect(shift(cb, 'shl', 0x80000000, 1)).toBe(0);
    expect(cb.eflags & FLAGS).toBe(CF | ZF | OF);
  });
  test('shr 3 by 1: CF 1, OF = MSB(original) = 0', () => {
    const cb = withFlags(0x2 | OF);
    expect(shift(cb, 'shr', 3, 1)).toBe(1);
    expect(cb.eflags & FLAGS).toBe(CF);
  });
  test('shr 0x80000000 by 4: CF = bit 3 = 0, OF 0 for counts > 1 even with MSB(original) 1', () => {
    const cb = withFlags(0x2 | CF | OF);
    expect(shift(cb, 'shr', 0x80000000, 4)).toBe(0x08000000);
    expect(cb.eflags & FLAGS).toBe(0);
  });
  test('sar 0x80000003 by 2: CF = bit 1 = 1, sign copied in, OF 0', () => {
    const cb = withFlags(0x2 | OF);
    expect(shift(cb, 'sar', 0x80000003, 2)).toBe(0xe0000000);
    expect(cb.eflags & FLAGS).toBe(CF | SF);
  });
  test('sar 0x80000000 by 31: all ones, negative, OF 0', () => {
    const cb = withFlags(0x2);
    expect(shift(cb, 'sar', 0x80000000, 31)).toBe(0xffffffff);
    expect(cb.eflags & FLAGS).toBe(SF);
  });
});

describe('unary group', () => {
  test('neg 0: CF 0 (src = 0), ZF', () => {
    const cb = withFlags(0x2 | CF);
    expect(unary(cb, 'neg', 0)).toBe(0);
    expect(cb.eflags & FLAGS).toBe(ZF);
  });
  test('neg 0x80000000: CF 1, OF 1, result unchanged', () => {
    const cb = withFlags(0x2);
    expect(unary(cb, 'neg', 0x80000000)).toBe(0x80000000);
    expect(cb.eflags & FLAGS).toBe(CF | SF | OF);
  });
  test('inc keeps CF; inc 0x7FFFFFFF overflows', () => {
    const cb = withFlags(0x2 | CF);
    expect(unary(cb, 'inc', 0x7fffffff)).toBe(0x80000000);
    expect(cb.eflags & FLAGS).toBe(CF | SF | OF);
  });
  test('dec 0x80000000 overflows, keeps CF clear', () => {
    const cb = withFlags(0x2);
    expect(unary(cb, 'dec', 0x80000000)).toBe(0x7fffffff);
    expect(cb.eflags & FLAGS).toBe(OF);
  });
  test('not changes no flag', () => {
    const cb = withFlags(0x2 | ZF);
    expect(unary(cb, 'not', 0)).toBe(0xffffffff);
    expect(cb.eflags & FLAGS).toBe(ZF);
  });
});

describe('conditions (x86 order, §3.3)', () => {
  test('l is SF ≠ OF; g is ¬ZF ∧ SF = OF; be is CF ∨ ZF; a is its negation', () => {
    expect(condition(SF, 0xc)).toBe(true);
    expect(condition(SF | OF, 0xc)).toBe(false);
    expect(condition(SF | OF, 0xf)).toBe(true);
    expect(condition(ZF, 0xf)).toBe(false);
    expect(condition(CF, 0x6)).toBe(true);
    expect(condition(CF, 0x7)).toBe(false);
    expect(condition(0, 0x7)).toBe(true);
  });
  test('o is OF, s is SF; no and ns their negations', () => {
    expect([condition(OF, 0x0), condition(0, 0x0), condition(SF, 0x0)]).toEqual([true, false, false]);
    expect([condition(OF, 0x1), condition(0, 0x1)]).toEqual([false, true]);
    expect([condition(SF, 0x8), condition(0, 0x8), condition(OF, 0x8)]).toEqual([true, false, false]);
    expect([condition(SF, 0x9), condition(0, 0x9)]).toEqual([false, true]);
  });
});
