// DESIGN §3.3, the encoding table: every opcode with the form of its operands, which
// fields each form uses, and the ways one field can break an encoding (#UD). Built here
// from DESIGN, not from spec/isa.ts, so a wrong row there is not copied into the generator.

export type Form = 'none' | 'r' | 'rr' | 'ri' | 'rsh' | 'i' | 'int' | 'rm' | 'mr' | 'm' | 'in' | 'out' | 'tocr' | 'fromcr' | 'cs';

export interface Op {
  opcode: number;
  /** For counterexample headers and statistics. */
  name: string;
  form: Form;
  /** Weight in the choice of a valid instruction: the ring- and state-sensitive ones more often. */
  weight: number;
}

const op = (opcode: number, name: string, form: Form, weight: number): Op => ({ opcode, name, form, weight });
export const OPS: readonly Op[] = [
  op(0x01, 'nop', 'none', 1),
  op(0x02, 'hlt', 'none', 6),
  op(0x03, 'ud2', 'none', 1),
  op(0x10, 'mov', 'rr', 1),
  op(0x11, 'mov-imm', 'ri', 1),
  op(0x12, 'load', 'rm', 8),
  op(0x13, 'store', 'mr', 8),
  op(0x14, 'movzx', 'rm', 4),
  op(0x15, 'store-byte', 'mr', 4),
  op(0x16, 'lea', 'rm', 2),
  ...['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test'].flatMap((n, i) => [op(0x20 + i, n, 'rr', 1), op(0x28 + i, `${n}-imm`, 'ri', 1)]),
  op(0x30, 'shl', 'rsh', 8),
  op(0x31, 'shr', 'rsh', 8),
  op(0x32, 'sar', 'rsh', 8),
  op(0x33, 'not', 'r', 1),
  op(0x34, 'neg', 'r', 2),
  op(0x35, 'inc', 'r', 2),
  op(0x36, 'dec', 'r', 2),
  op(0x40, 'jmp', 'i', 2),
  op(0x41, 'jmp-reg', 'r', 2),
  op(0x42, 'call', 'i', 4),
  op(0x43, 'call-reg', 'r', 2),
  op(0x44, 'ret', 'none', 6),
  op(0x45, 'push', 'r', 5),
  op(0x46, 'push-imm', 'i', 2),
  op(0x47, 'pop', 'r', 5),
  // x86 condition order; 5A and 5B do not exist (#UD)
  ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15].map((cc) => op(0x50 + cc, 'jcc', 'i', 1)),
  op(0x60, 'pushf', 'none', 4),
  op(0x61, 'popf', 'none', 14),
  op(0x62, 'cli', 'none', 8),
  op(0x63, 'sti', 'none', 10),
  op(0x64, 'int', 'int', 14),
  op(0x65, 'iret', 'none', 24),
  op(0x66, 'in', 'in', 7),
  op(0x67, 'out', 'out', 7),
  op(0x70, 'mov-to-cr', 'tocr', 10),
  op(0x71, 'mov-from-cr', 'fromcr', 10),
  op(0x72, 'lidt', 'm', 4),
  op(0x73, 'sidt', 'm', 4),
  op(0x74, 'ltr', 'r', 4),
  op(0x75, 'str', 'r', 2),
  op(0x76, 'invlpg', 'm', 4),
  op(0x77, 'mov-cs', 'cs', 2),
];

export interface Uses {
  a: boolean;
  b: boolean;
  mem: boolean;
  imm: boolean;
  immMax: number;
}

/** DESIGN §3.3: which fields a form uses; every other field must be 0. */
export function usesOf(form: Form): Uses {
  const U32 = 0xffffffff;
  const a = !['none', 'i', 'int', 'm'].includes(form);
  const b = ['rr', 'rm', 'mr', 'm', 'tocr', 'fromcr'].includes(form);
  const mem = ['rm', 'mr', 'm'].includes(form);
  const imm = ['ri', 'rsh', 'i', 'int', 'rm', 'mr', 'm', 'in', 'out'].includes(form);
  const immMax = form === 'rsh' ? 31 : form === 'int' ? 255 : form === 'in' || form === 'out' ? 0xffff : imm ? U32 : 0;
  return { a, b, mem, imm, immMax };
}

/** Opcodes DESIGN §3.3 leaves undefined (00 is the "zeroed memory traps" one). */
export const UNDEFINED_OPCODES = [
  0x00, 0x04, 0x0f, 0x17, 0x27, 0x2f, 0x37, 0x3f, 0x48, 0x5a, 0x5b, 0x68, 0x6f, 0x78, 0x7f, 0x80, 0xff,
] as const;

/**
 * One field wrong (DESIGN §3.3 "any violation … #UD"). The rules that depend on the
 * form come first: a decoder checks them per form, so each form needs its own cases.
 */
export const FLAWS = [
  'unused a',
  'unused b',
  'unused imm',
  'imm out of range',
  'cr number',
  'NOBASE on a non-memory op',
  'NOBASE with b != 0',
  'A bits 3-7',
  'B bits 4-7',
  'byte 3',
  'undefined opcode',
] as const;
export type Flaw = (typeof FLAWS)[number];
const FORM_FLAWS = 7;

/** The flaws that can break an instruction of `form`; the form's own rules count twice. */
export function flawsOf(form: Form): readonly Flaw[] {
  const uses = usesOf(form);
  const applies: Record<Flaw, boolean> = {
    'unused a': !uses.a,
    'unused b': !uses.b,
    'unused imm': !uses.imm,
    'imm out of range': uses.imm && uses.immMax < 0xffffffff,
    'cr number': form === 'tocr' || form === 'fromcr',
    'NOBASE on a non-memory op': !uses.mem,
    'NOBASE with b != 0': uses.mem,
    'A bits 3-7': true,
    'B bits 4-7': true,
    'byte 3': true,
    'undefined opcode': true,
  };
  const own = FLAWS.slice(0, FORM_FLAWS).filter((f) => applies[f]);
  return [...own, ...own, ...FLAWS.slice(FORM_FLAWS)];
}
