// DESIGN §3.4 — arithmetic and its flags, as IA-32 defines them (SDM vol. 2, ADD/SUB/
// NEG/SHL...). Each function returns the result and the new eflags; nothing else changes.

import { assertNever, type AluOp, type ShiftOp } from './isa.ts';
import { CF, OF, SF, ZF } from './state.ts';

export interface AluResult {
  value: number;
  eflags: number;
}

const ARITH = CF | ZF | SF | OF;

/** ZF and SF from a 32-bit result. */
const zs = (r: number): number => (r === 0 ? ZF : 0) | (r & 0x80000000 ? SF : 0);

/** `add sub and or xor cmp test`; `cmp` and `test` write flags only (the caller keeps `a`). */
export function alu(op: AluOp, a: number, b: number, eflags: number): AluResult {
  const keep = eflags & ~ARITH;
  switch (op) {
    case 'add': {
      const r = (a + b) >>> 0;
      const cf = a + b > 0xffffffff ? CF : 0;
      // Signed overflow: both operands have the same sign and the result's differs.
      const of = (~(a ^ b) & (a ^ r) & 0x80000000) !== 0 ? OF : 0;
      return { value: r, eflags: keep | zs(r) | cf | of };
    }
    case 'sub':
    case 'cmp': {
      const r = (a - b) >>> 0;
      const cf = a < b ? CF : 0; // borrow
      const of = ((a ^ b) & (a ^ r) & 0x80000000) !== 0 ? OF : 0;
      return { value: op === 'sub' ? r : a, eflags: keep | zs(r) | cf | of };
    }
    case 'and':
    case 'test': {
      const r = (a & b) >>> 0;
      return { value: op === 'and' ? r : a, eflags: keep | zs(r) }; // CF = OF = 0
    }
    case 'or': {
      const r = (a | b) >>> 0;
      return { value: r, eflags: keep | zs(r) };
    }
    case 'xor': {
      const r = (a ^ b) >>> 0;
      return { value: r, eflags: keep | zs(r) };
    }
    default:
      return assertNever(op);
  }
}

/** `inc`/`dec` keep CF (§3.4). */
export function incDec(dec: boolean, a: number, eflags: number): AluResult {
  const r = (dec ? a - 1 : a + 1) >>> 0;
  const of = r === (dec ? 0x7fffffff : 0x80000000) ? OF : 0;
  return { value: r, eflags: (eflags & ~(ZF | SF | OF)) | zs(r) | of };
}

/** `neg`: CF = (src ≠ 0), OF = (src = 0x80000000) (§3.4). */
export function neg(a: number, eflags: number): AluResult {
  const r = -a >>> 0;
  const cf = a !== 0 ? CF : 0;
  const of = a === 0x80000000 ? OF : 0;
  return { value: r, eflags: (eflags & ~ARITH) | zs(r) | cf | of };
}

/**
 * Shifts (§3.4): count 0 changes nothing; otherwise CF is the last bit shifted out, ZF/SF
 * from the result, OF defined for count 1 (shl: MSB(result) xor CF; shr: MSB(original);
 * sar: 0) and 0 for larger counts (VX32 defines what IA-32 leaves undefined).
 */
export function shift(op: ShiftOp, a: number, count: number, eflags: number): AluResult {
  if (count === 0) return { value: a, eflags };
  let r: number;
  let cf: number;
  let of: number;
  switch (op) {
    case 'shl':
      r = (a << count) >>> 0;
      cf = (a >>> (32 - count)) & 1;
      of = count === 1 ? (r >>> 31) ^ cf : 0;
      break;
    case 'shr':
      r = a >>> count;
      cf = (a >>> (count - 1)) & 1;
      of = count === 1 ? a >>> 31 : 0;
      break;
    case 'sar':
      r = (a >> count) >>> 0;
      cf = (a >> (count - 1)) & 1;
      of = 0;
      break;
    default:
      return assertNever(op);
  }
  return { value: r, eflags: (eflags & ~ARITH) | zs(r) | (cf ? CF : 0) | (of ? OF : 0) };
}

/** Condition codes in x86 order (§3.3); 0xA and 0xB never decode. */
export function condition(cond: number, eflags: number): boolean {
  const cf = (eflags & CF) !== 0;
  const zf = (eflags & ZF) !== 0;
  const sf = (eflags & SF) !== 0;
  const of = (eflags & OF) !== 0;
  switch (cond) {
    case 0x0:
      return of;
    case 0x1:
      return !of;
    case 0x2:
      return cf;
    case 0x3:
      return !cf;
    case 0x4:
      return zf;
    case 0x5:
      return !zf;
    case 0x6:
      return cf || zf;
    case 0x7:
      return !cf && !zf;
    case 0x8:
      return sf;
    case 0x9:
      return !sf;
    case 0xc:
      return sf !== of;
    case 0xd:
      return sf === of;
    case 0xe:
      return zf || sf !== of;
    case 0xf:
      return !zf && sf === of;
    default:
      throw new Error(`condition ${cond} does not decode (DESIGN §3.3)`);
  }
}
