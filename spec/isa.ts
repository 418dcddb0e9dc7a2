// VX32 encoding (DESIGN §3.3): every instruction is 8 bytes `op A B 0 imm32`.
// This file is the encoding table — opcode, assembly form and operand rules side by
// side — and the decoder that applies every #UD rule of §3.3 and §3.10.10.
// The assembler and disassembler (spec/asm) read the same table, so the three can never
// disagree about what an instruction looks like.

export const INSN_BYTES = 8;

/** Operand shapes. The assembler's syntax and the decoder's "unused fields are 0" follow from them. */
export type Form =
  | 'none' //   op
  | 'r' //      op a
  | 'rr' //     op a, b
  | 'ri' //     op a, imm
  | 'rsh' //    op a, imm      imm ≤ 31
  | 'i' //      op imm         (absolute targets, pushed values)
  | 'int' //    op imm         imm ≤ 255
  | 'rm' //     op a, [m]      (load, lea)
  | 'mr' //     op [m], a      (store)
  | 'm' //      op [m]
  | 'in' //     op a, imm      imm ≤ 0xFFFF
  | 'out' //    op imm, a      imm ≤ 0xFFFF
  | 'tocr' //   mov crN, a     N in B
  | 'fromcr' // mov a, crN
  | 'cs'; //    mov a, cs

export type AluOp = 'add' | 'sub' | 'and' | 'or' | 'xor' | 'cmp' | 'test';
export type ShiftOp = 'shl' | 'shr' | 'sar';
export type UnaryOp = 'not' | 'neg' | 'inc' | 'dec';

/** What an opcode does; `execute` switches over this exhaustively. */
export type Kind =
  | { k: 'nop' }
  | { k: 'hlt' }
  | { k: 'ud2' }
  | { k: 'mov' }
  | { k: 'movi' }
  | { k: 'load' }
  | { k: 'store' }
  | { k: 'loadb' }
  | { k: 'storeb' }
  | { k: 'lea' }
  | { k: 'alu'; op: AluOp }
  | { k: 'alui'; op: AluOp }
  | { k: 'shift'; op: ShiftOp }
  | { k: 'unary'; op: UnaryOp }
  | { k: 'jmp' }
  | { k: 'jmpr' }
  | { k: 'call' }
  | { k: 'callr' }
  | { k: 'ret' }
  | { k: 'push' }
  | { k: 'pushi' }
  | { k: 'pop' }
  | { k: 'jcc'; cond: number }
  | { k: 'pushf' }
  | { k: 'popf' }
  | { k: 'cli' }
  | { k: 'sti' }
  | { k: 'int' }
  | { k: 'iret' }
  | { k: 'in' }
  | { k: 'out' }
  | { k: 'movtocr' }
  | { k: 'movfromcr' }
  | { k: 'lidt' }
  | { k: 'sidt' }
  | { k: 'ltr' }
  | { k: 'str' }
  | { k: 'invlpg' }
  | { k: 'movcs' };

export interface OpInfo {
  opcode: number;
  /** Assembly mnemonic; `mov` forms share one and differ by operands. */
  mnemonic: string;
  form: Form;
  kind: Kind;
  /** The fields this form uses, precomputed from `formUses`. */
  uses: FieldUse;
}

export interface FieldUse {
  a: boolean;
  b: boolean;
  mem: boolean;
  imm: boolean;
  immMax: number;
}

const ALU_OPS: readonly AluOp[] = ['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test'];
const SHIFT_OPS: readonly ShiftOp[] = ['shl', 'shr', 'sar'];
const UNARY_OPS: readonly UnaryOp[] = ['not', 'neg', 'inc', 'dec'];
/** x86 condition order (DESIGN §3.3); codes 0xA and 0xB (p, np) are #UD. */
export const COND_NAMES: readonly (string | null)[] = [
  'o',
  'no',
  'b',
  'ae',
  'e',
  'ne',
  'be',
  'a',
  's',
  'ns',
  null,
  null,
  'l',
  'ge',
  'le',
  'g',
];
/** Assembler aliases for condition codes (x86 spellings). */
export const COND_ALIASES: Readonly<Record<string, number>> = {
  o: 0,
  no: 1,
  b: 2,
  c: 2,
  nae: 2,
  ae: 3,
  nb: 3,
  nc: 3,
  e: 4,
  z: 4,
  ne: 5,
  nz: 5,
  be: 6,
  na: 6,
  a: 7,
  nbe: 7,
  s: 8,
  ns: 9,
  l: 12,
  nge: 12,
  ge: 13,
  nl: 13,
  le: 14,
  ng: 14,
  g: 15,
  nle: 15,
};

function buildTable(): (OpInfo | undefined)[] {
  const t = new Array<OpInfo | undefined>(256);
  const def = (opcode: number, mnemonic: string, form: Form, kind: Kind) => {
    t[opcode] = { opcode, mnemonic, form, kind, uses: formUses(form) };
  };
  def(0x01, 'nop', 'none', { k: 'nop' });
  def(0x02, 'hlt', 'none', { k: 'hlt' });
  def(0x03, 'ud2', 'none', { k: 'ud2' });
  def(0x10, 'mov', 'rr', { k: 'mov' });
  def(0x11, 'mov', 'ri', { k: 'movi' });
  def(0x12, 'mov', 'rm', { k: 'load' });
  def(0x13, 'mov', 'mr', { k: 'store' });
  def(0x14, 'movzx', 'rm', { k: 'loadb' });
  def(0x15, 'mov', 'mr', { k: 'storeb' }); // `mov byte [m], a8`
  def(0x16, 'lea', 'rm', { k: 'lea' });
  ALU_OPS.forEach((op, i) => {
    def(0x20 + i, op, 'rr', { k: 'alu', op });
    def(0x28 + i, op, 'ri', { k: 'alui', op });
  });
  SHIFT_OPS.forEach((op, i) => def(0x30 + i, op, 'rsh', { k: 'shift', op }));
  UNARY_OPS.forEach((op, i) => def(0x33 + i, op, 'r', { k: 'unary', op }));
  def(0x40, 'jmp', 'i', { k: 'jmp' });
  def(0x41, 'jmp', 'r', { k: 'jmpr' });
  def(0x42, 'call', 'i', { k: 'call' });
  def(0x43, 'call', 'r', { k: 'callr' });
  def(0x44, 'ret', 'none', { k: 'ret' });
  def(0x45, 'push', 'r', { k: 'push' });
  def(0x46, 'push', 'i', { k: 'pushi' });
  def(0x47, 'pop', 'r', { k: 'pop' });
  COND_NAMES.forEach((name, cond) => {
    if (name !== null) def(0x50 + cond, 'j' + name, 'i', { k: 'jcc', cond });
  });
  def(0x60, 'pushf', 'none', { k: 'pushf' });
  def(0x61, 'popf', 'none', { k: 'popf' });
  def(0x62, 'cli', 'none', { k: 'cli' });
  def(0x63, 'sti', 'none', { k: 'sti' });
  def(0x64, 'int', 'int', { k: 'int' });
  def(0x65, 'iret', 'none', { k: 'iret' });
  def(0x66, 'in', 'in', { k: 'in' });
  def(0x67, 'out', 'out', { k: 'out' });
  def(0x70, 'mov', 'tocr', { k: 'movtocr' });
  def(0x71, 'mov', 'fromcr', { k: 'movfromcr' });
  def(0x72, 'lidt', 'm', { k: 'lidt' });
  def(0x73, 'sidt', 'm', { k: 'sidt' });
  def(0x74, 'ltr', 'r', { k: 'ltr' });
  def(0x75, 'str', 'r', { k: 'str' });
  def(0x76, 'invlpg', 'm', { k: 'invlpg' });
  def(0x77, 'mov', 'cs', { k: 'movcs' });
  return t;
}

/** Indexed by opcode byte; `undefined` is an undefined opcode (#UD). */
export const OPCODES: readonly (OpInfo | undefined)[] = buildTable();

/** Which fields of the 8 bytes a form uses (DESIGN §3.3: every other field must be 0). */
export function formUses(form: Form): FieldUse {
  const U32 = 0xffffffff;
  switch (form) {
    case 'none':
      return { a: false, b: false, mem: false, imm: false, immMax: 0 };
    case 'r':
      return { a: true, b: false, mem: false, imm: false, immMax: 0 };
    case 'rr':
      return { a: true, b: true, mem: false, imm: false, immMax: 0 };
    case 'ri':
      return { a: true, b: false, mem: false, imm: true, immMax: U32 };
    case 'rsh':
      return { a: true, b: false, mem: false, imm: true, immMax: 31 };
    case 'i':
      return { a: false, b: false, mem: false, imm: true, immMax: U32 };
    case 'int':
      return { a: false, b: false, mem: false, imm: true, immMax: 255 };
    case 'rm':
    case 'mr':
      return { a: true, b: true, mem: true, imm: true, immMax: U32 };
    case 'm':
      return { a: false, b: true, mem: true, imm: true, immMax: U32 };
    case 'in':
    case 'out':
      return { a: true, b: false, mem: false, imm: true, immMax: 0xffff };
    case 'tocr':
    case 'fromcr':
      return { a: true, b: true, mem: false, imm: false, immMax: 0 };
    case 'cs':
      return { a: true, b: false, mem: false, imm: false, immMax: 0 };
    default:
      return assertNever(form);
  }
}

export function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}

/** A decoded instruction. `b` is a register, or the control-register number for mov crN. */
export interface Insn {
  info: OpInfo;
  a: number;
  b: number;
  nobase: boolean;
  imm: number;
}

const NOBASE = 0x08;
/** Control registers that exist: 0, 2, 3, 4 (§3.3). */
const VALID_CR_MASK = 0b11101;

/**
 * Decode 8 bytes, or return null for #UD. Checks, all from DESIGN §3.3 and §3.10.10:
 * defined opcode; A bits 3–7 zero; B bits 4–7 zero; byte 3 zero; unused register
 * fields, NOBASE and imm zero; NOBASE only on memory operands, and then b = 0;
 * imm ranges for int, in/out and shifts; control register in {0, 2, 3, 4}.
 */
export function decode(bytes: ArrayLike<number>): Insn | null {
  const info = OPCODES[bytes[0]!];
  if (info === undefined) return null;
  const A = bytes[1]!;
  const B = bytes[2]!;
  if (A & 0xf8 || B & 0xf0 || bytes[3] !== 0) return null;
  const imm = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  const a = A & 7;
  const b = B & 7;
  const nobase = (B & NOBASE) !== 0;
  const uses = info.uses;
  if (!uses.a && a !== 0) return null;
  if (!uses.b && b !== 0) return null;
  if (nobase && (!uses.mem || b !== 0)) return null;
  if (!uses.imm && imm !== 0) return null;
  if (imm > uses.immMax) return null;
  if ((info.form === 'tocr' || info.form === 'fromcr') && !((VALID_CR_MASK >>> b) & 1)) return null;
  return { info, a, b, nobase, imm };
}

/** Encode the fields of an instruction into 8 bytes (the assembler's inverse of decode). */
export function encode(opcode: number, a: number, b: number, nobase: boolean, imm: number): Uint8Array {
  const out = new Uint8Array(INSN_BYTES);
  out[0] = opcode;
  out[1] = a;
  out[2] = b | (nobase ? NOBASE : 0);
  out[3] = 0;
  out[4] = imm & 0xff;
  out[5] = (imm >>> 8) & 0xff;
  out[6] = (imm >>> 16) & 0xff;
  out[7] = (imm >>> 24) & 0xff;
  return out;
}
