// The interpreter's own decoder of VX32's fixed 8-byte encoding (DESIGN §3.3):
// `op A B 0 imm32`. It produces a decoded-instruction form the executor dispatches on,
// or undefined for #UD. Written from the table in §3.3 alone (DESIGN §1: engines never
// share a decoder — a shared one would hide a decoding bug from the differential test).

export type AluFn = 'add' | 'sub' | 'and' | 'or' | 'xor' | 'cmp' | 'test';
export type ShiftFn = 'shl' | 'shr' | 'sar';
export type UnaryFn = 'not' | 'neg' | 'inc' | 'dec';
export type ControlReg = 0 | 2 | 3 | 4;

/** A memory operand `[base + disp]`; base -1 is NOBASE (§3.3). */
export interface MemOperand {
  base: number;
  disp: number;
}

export type Insn =
  | { op: 'nop' }
  | { op: 'hlt' }
  | { op: 'mov'; a: number; b: number }
  | { op: 'mov-imm'; a: number; imm: number }
  | ({ op: 'load' | 'store' | 'load8' | 'store8' | 'lea'; a: number } & MemOperand)
  | { op: 'alu'; fn: AluFn; a: number; b: number }
  | { op: 'alu-imm'; fn: AluFn; a: number; imm: number }
  | { op: 'shift'; fn: ShiftFn; a: number; count: number }
  | { op: 'unary'; fn: UnaryFn; a: number }
  | { op: 'jmp' | 'call'; target: number }
  | { op: 'jmp-reg' | 'call-reg' | 'push' | 'pop' | 'ltr' | 'str' | 'mov-from-cs'; a: number }
  | { op: 'ret' | 'pushf' | 'popf' | 'cli' | 'sti' | 'iret' }
  | { op: 'push-imm'; imm: number }
  | { op: 'jcc'; cond: number; target: number }
  | { op: 'int'; vector: number }
  | { op: 'in' | 'out'; a: number; port: number }
  | { op: 'mov-to-cr' | 'mov-from-cr'; cr: ControlReg; a: number }
  | ({ op: 'lidt' | 'sidt' | 'invlpg' } & MemOperand);

const ALU_FNS: readonly AluFn[] = ['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test'];
const SHIFT_FNS: readonly ShiftFn[] = ['shl', 'shr', 'sar'];
const UNARY_FNS: readonly UnaryFn[] = ['not', 'neg', 'inc', 'dec'];

/** Decode the 8 bytes at `bytes[0..8)`; undefined means #UD. */
export function decode(bytes: Uint8Array): Insn | undefined {
  const op = bytes[0]!;
  const A = bytes[1]!;
  const B = bytes[2]!;
  // §3.3: A bits 3–7, B bits 4–7 and byte 3 are always zero.
  if (bytes[3] !== 0 || (A & 0xf8) !== 0 || (B & 0xf0) !== 0) return undefined;
  const imm = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  const a = A;
  const b = B & 7;
  const nobase = (B & 8) !== 0;
  // Every field an instruction does not use must be zero (§3.3); these say which are free.
  const noA = A === 0;
  const noB = B === 0;
  const noImm = imm === 0;

  if (op >= 0x50 && op <= 0x5f) {
    const cond = op & 0xf;
    // §3.3: 5A and 5B (parity) are not VX32 instructions.
    return cond === 0xa || cond === 0xb || !noA || !noB ? undefined : { op: 'jcc', cond, target: imm };
  }
  if (op >= 0x20 && op <= 0x26) return noImm && !nobase ? { op: 'alu', fn: ALU_FNS[op - 0x20]!, a, b } : undefined;
  if (op >= 0x28 && op <= 0x2e) return noB ? { op: 'alu-imm', fn: ALU_FNS[op - 0x28]!, a, imm } : undefined;
  if (op >= 0x30 && op <= 0x32) return noB && imm <= 31 ? { op: 'shift', fn: SHIFT_FNS[op - 0x30]!, a, count: imm } : undefined;
  if (op >= 0x33 && op <= 0x36) return noB && noImm ? { op: 'unary', fn: UNARY_FNS[op - 0x33]!, a } : undefined;

  switch (op) {
    case 0x01:
      return none(A, B, imm, 'nop');
    case 0x02:
      return none(A, B, imm, 'hlt');
    case 0x10:
      return noImm && !nobase ? { op: 'mov', a, b } : undefined;
    case 0x11:
      return noB ? { op: 'mov-imm', a, imm } : undefined;
    case 0x12:
      return memWith(A, B, imm, 'load');
    case 0x13:
      return memWith(A, B, imm, 'store');
    case 0x14:
      return memWith(A, B, imm, 'load8');
    case 0x15:
      return memWith(A, B, imm, 'store8');
    case 0x16:
      return memWith(A, B, imm, 'lea'); // §3.10.10: lea is a memory-operand opcode
    case 0x40:
      return target(A, B, imm, 'jmp');
    case 0x41:
      return regA(A, B, imm, 'jmp-reg');
    case 0x42:
      return target(A, B, imm, 'call');
    case 0x43:
      return regA(A, B, imm, 'call-reg');
    case 0x44:
      return none(A, B, imm, 'ret');
    case 0x45:
      return regA(A, B, imm, 'push');
    case 0x46:
      return noA && noB ? { op: 'push-imm', imm } : undefined;
    case 0x47:
      return regA(A, B, imm, 'pop');
    case 0x60:
      return none(A, B, imm, 'pushf');
    case 0x61:
      return none(A, B, imm, 'popf');
    case 0x62:
      return none(A, B, imm, 'cli');
    case 0x63:
      return none(A, B, imm, 'sti');
    case 0x64:
      return noA && noB && imm <= 255 ? { op: 'int', vector: imm } : undefined;
    case 0x65:
      return none(A, B, imm, 'iret');
    case 0x66:
      return noB && imm <= 0xffff ? { op: 'in', a, port: imm } : undefined;
    case 0x67:
      return noB && imm <= 0xffff ? { op: 'out', a, port: imm } : undefined;
    case 0x70:
      return controlReg(A, B, imm, 'mov-to-cr');
    case 0x71:
      return controlReg(A, B, imm, 'mov-from-cr');
    case 0x72:
      return memOnly(A, B, imm, 'lidt');
    case 0x73:
      return memOnly(A, B, imm, 'sidt');
    case 0x74:
      return regA(A, B, imm, 'ltr');
    case 0x75:
      return regA(A, B, imm, 'str');
    case 0x76:
      return memOnly(A, B, imm, 'invlpg');
    case 0x77:
      return regA(A, B, imm, 'mov-from-cs');
    default:
      return undefined; // 00 (zeroed memory), 03 ud2, and every undefined opcode: #UD
  }
}

// Forms of §3.3, one per set of used fields. Module-level, so decoding allocates nothing
// but the decoded instruction itself.

/** The base of a memory operand: register b, NOBASE (-1), or INVALID when NOBASE has b ≠ 0 (§3.10.10). */
const INVALID = -2;
function memBase(B: number): number {
  const b = B & 7;
  if ((B & 8) === 0) return b;
  return b === 0 ? -1 : INVALID;
}

function memWith(A: number, B: number, imm: number, k: 'load' | 'store' | 'load8' | 'store8' | 'lea'): Insn | undefined {
  const base = memBase(B);
  return base === INVALID ? undefined : { op: k, a: A, base, disp: imm };
}

function memOnly(A: number, B: number, imm: number, k: 'lidt' | 'sidt' | 'invlpg'): Insn | undefined {
  const base = memBase(B);
  return base === INVALID || A !== 0 ? undefined : { op: k, base, disp: imm };
}

function none(A: number, B: number, imm: number, k: 'nop' | 'hlt' | 'ret' | 'pushf' | 'popf' | 'cli' | 'sti' | 'iret'): Insn | undefined {
  return A === 0 && B === 0 && imm === 0 ? { op: k } : undefined;
}

function regA(
  A: number,
  B: number,
  imm: number,
  k: 'jmp-reg' | 'call-reg' | 'push' | 'pop' | 'ltr' | 'str' | 'mov-from-cs',
): Insn | undefined {
  return B === 0 && imm === 0 ? { op: k, a: A } : undefined;
}

function target(A: number, B: number, imm: number, k: 'jmp' | 'call'): Insn | undefined {
  return A === 0 && B === 0 ? { op: k, target: imm } : undefined;
}

/** `mov crN`: N in B bits 0–2, one of 0 2 3 4; NOBASE and imm unused (§3.3). */
function controlReg(A: number, B: number, imm: number, k: 'mov-to-cr' | 'mov-from-cr'): Insn | undefined {
  return imm === 0 && (B === 0 || B === 2 || B === 3 || B === 4) ? { op: k, cr: B, a: A } : undefined;
}
