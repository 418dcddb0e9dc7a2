// Arithmetic and its flags (DESIGN §3.4): IA-32's CF, ZF, SF, OF — VX32 has no AF or PF.
// Each function takes unsigned 32-bit operands, returns the unsigned result and writes
// the flags it defines into the control block.

import { type AluFn, type ShiftFn, type UnaryFn } from './decode.ts';
import { EFLAGS_CF, EFLAGS_OF, EFLAGS_SF, EFLAGS_ZF } from '../../hw/arch.ts';
import { type ControlBlock } from './control-block.ts';

const SIGN = 0x80000000;

function setFlags(cb: ControlBlock, r: number, cf: boolean, of: boolean): void {
  cb.eflags =
    (cb.eflags & ~(EFLAGS_CF | EFLAGS_ZF | EFLAGS_SF | EFLAGS_OF)) |
    (cf ? EFLAGS_CF : 0) |
    (r === 0 ? EFLAGS_ZF : 0) |
    ((r & SIGN) !== 0 ? EFLAGS_SF : 0) |
    (of ? EFLAGS_OF : 0);
}

/** Like setFlags but keeping CF (inc, dec). */
function setFlagsKeepCf(cb: ControlBlock, r: number, of: boolean): void {
  setFlags(cb, r, (cb.eflags & EFLAGS_CF) !== 0, of);
}

/** The two-operand group; returns the value to write back, or -1 for cmp/test (no write). */
export function alu(cb: ControlBlock, fn: AluFn, x: number, y: number): number {
  switch (fn) {
    case 'add': {
      const r = (x + y) >>> 0;
      // OF: both operands have one sign and the result the other.
      setFlags(cb, r, x + y > 0xffffffff, (~(x ^ y) & (x ^ r) & SIGN) !== 0);
      return r;
    }
    case 'sub':
    case 'cmp': {
      const r = (x - y) >>> 0;
      // CF is the borrow; OF: operands of different signs and the result takes y's sign.
      setFlags(cb, r, x < y, ((x ^ y) & (x ^ r) & SIGN) !== 0);
      return fn === 'sub' ? r : -1;
    }
    case 'and':
    case 'test': {
      const r = (x & y) >>> 0;
      setFlags(cb, r, false, false); // logic ops clear CF and OF
      return fn === 'and' ? r : -1;
    }
    case 'or': {
      const r = (x | y) >>> 0;
      setFlags(cb, r, false, false);
      return r;
    }
    case 'xor': {
      const r = (x ^ y) >>> 0;
      setFlags(cb, r, false, false);
      return r;
    }
    default:
      return assertNever(fn);
  }
}

/** Shifts by an immediate 0–31. A count of 0 changes nothing, flags included (§3.4). */
export function shift(cb: ControlBlock, fn: ShiftFn, x: number, count: number): number {
  if (count === 0) return x;
  switch (fn) {
    case 'shl': {
      const r = (x << count) >>> 0;
      const cf = ((x >>> (32 - count)) & 1) !== 0;
      // §3.4: OF = MSB(result) xor CF for a count of 1, else 0 (VX32 defines it).
      setFlags(cb, r, cf, count === 1 && ((r & SIGN) !== 0) !== cf);
      return r;
    }
    case 'shr': {
      const r = x >>> count;
      setFlags(cb, r, ((x >>> (count - 1)) & 1) !== 0, count === 1 && (x & SIGN) !== 0);
      return r;
    }
    case 'sar': {
      const r = (x >> count) >>> 0;
      setFlags(cb, r, ((x >> (count - 1)) & 1) !== 0, false);
      return r;
    }
    default:
      return assertNever(fn);
  }
}

export function unary(cb: ControlBlock, fn: UnaryFn, x: number): number {
  switch (fn) {
    case 'not':
      return ~x >>> 0; // no flags
    case 'neg': {
      const r = (0 - x) >>> 0;
      setFlags(cb, r, x !== 0, x === SIGN);
      return r;
    }
    case 'inc': {
      const r = (x + 1) >>> 0;
      setFlagsKeepCf(cb, r, x === 0x7fffffff);
      return r;
    }
    case 'dec': {
      const r = (x - 1) >>> 0;
      setFlagsKeepCf(cb, r, x === SIGN);
      return r;
    }
    default:
      return assertNever(fn);
  }
}

/** §3.3 condition codes in x86 order (10 and 11, parity, never decode). */
export function condition(eflags: number, cond: number): boolean {
  const cf = (eflags & EFLAGS_CF) !== 0;
  const zf = (eflags & EFLAGS_ZF) !== 0;
  const sf = (eflags & EFLAGS_SF) !== 0;
  const of = (eflags & EFLAGS_OF) !== 0;
  let taken: boolean;
  switch (cond >>> 1) {
    case 0:
      taken = of;
      break;
    case 1:
      taken = cf;
      break;
    case 2:
      taken = zf;
      break;
    case 3:
      taken = cf || zf;
      break;
    case 4:
      taken = sf;
      break;
    case 6:
      taken = sf !== of;
      break;
    case 7:
      taken = zf || sf !== of;
      break;
    default:
      return false; // 5: parity, rejected by the decoder
  }
  // Odd conditions are the negations of the even ones (no, ae, ne, a, ns, ge, g).
  return (cond & 1) === 0 ? taken : !taken;
}

export function assertNever(x: never): never {
  throw new Error(`interpret: unhandled case ${String(x)}`);
}
