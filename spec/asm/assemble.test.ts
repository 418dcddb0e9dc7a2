// The assembler against DESIGN §3.9 and §3.10.16: every directive, every instruction
// form of the OPCODES table, expressions, forward references, escapes and every error
// with its exact FILE:LINE:COL.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { COND_ALIASES, encode, OPCODES } from '../isa.ts';
import { assemble, AsmError } from './assemble.ts';

/** The single chunk's bytes as plain numbers. */
function bytesOf(src: string): number[] {
  const { chunks } = assemble(src).image;
  expect(chunks).toHaveLength(1);
  return [...chunks[0]!.bytes];
}

/** The value a `.dd` of `expr` stores. */
function dd(expr: string): number {
  const b = bytesOf(`.dd ${expr}`);
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

function errorOf(src: string, file = 't.s'): string {
  try {
    assemble(src, file);
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return (e as AsmError).message;
  }
  throw new Error(`no error for ${JSON.stringify(src)}`);
}

describe('instruction forms (DESIGN §3.3)', () => {
  // [source, opcode, a, b, nobase, imm]
  const FORMS: [string, number, number, number, boolean, number][] = [
    ['nop', 0x01, 0, 0, false, 0],
    ['hlt', 0x02, 0, 0, false, 0],
    ['ud2', 0x03, 0, 0, false, 0],
    ['mov ecx, edx', 0x10, 1, 2, false, 0],
    ['mov ebx, 0x12345678', 0x11, 3, 0, false, 0x12345678],
    ['mov esp, [ebp + 8]', 0x12, 4, 5, false, 8],
    ['mov [esi - 4], edi', 0x13, 7, 6, false, 0xfffffffc],
    ['movzx eax, byte [0x100]', 0x14, 0, 0, true, 0x100],
    ['mov byte [ebx], dil', 0x15, 7, 3, false, 0],
    ['lea edx, [esp + 3 * 4]', 0x16, 2, 4, false, 12],
    ['add eax, ecx', 0x20, 0, 1, false, 0],
    ['sub ecx, edx', 0x21, 1, 2, false, 0],
    ['and edx, ebx', 0x22, 2, 3, false, 0],
    ['or ebx, esp', 0x23, 3, 4, false, 0],
    ['xor esp, ebp', 0x24, 4, 5, false, 0],
    ['cmp ebp, esi', 0x25, 5, 6, false, 0],
    ['test esi, edi', 0x26, 6, 7, false, 0],
    ['add eax, 1', 0x28, 0, 0, false, 1],
    ['sub ecx, 2', 0x29, 1, 0, false, 2],
    ['and edx, 0xff', 0x2a, 2, 0, false, 0xff],
    ['or ebx, 0x100', 0x2b, 3, 0, false, 0x100],
    ['xor esp, -1', 0x2c, 4, 0, false, 0xffffffff],
    ['cmp ebp, 5', 0x2d, 5, 0, false, 5],
    ['test esi, 0x80', 0x2e, 6, 0, false, 0x80],
    ['shl edi, 31', 0x30, 7, 0, false, 31],
    ['shr eax, 1', 0x31, 0, 0, false, 1],
    ['sar ecx, 0', 0x32, 1, 0, false, 0],
    ['not edx', 0x33, 2, 0, false, 0],
    ['neg ebx', 0x34, 3, 0, false, 0],
    ['inc esp', 0x35, 4, 0, false, 0],
    ['dec ebp', 0x36, 5, 0, false, 0],
    ['jmp 0x1000', 0x40, 0, 0, false, 0x1000],
    ['jmp esi', 0x41, 6, 0, false, 0],
    ['call 0x2000', 0x42, 0, 0, false, 0x2000],
    ['call edi', 0x43, 7, 0, false, 0],
    ['ret', 0x44, 0, 0, false, 0],
    ['push eax', 0x45, 0, 0, false, 0],
    ['push -1', 0x46, 0, 0, false, 0xffffffff],
    ['pop ecx', 0x47, 1, 0, false, 0],
    ['pushf', 0x60, 0, 0, false, 0],
    ['popf', 0x61, 0, 0, false, 0],
    ['cli', 0x62, 0, 0, false, 0],
    ['sti', 0x63, 0, 0, false, 0],
    ['int 0x80', 0x64, 0, 0, false, 0x80],
    ['iret', 0x65, 0, 0, false, 0],
    ['in eax, 0xe9', 0x66, 0, 0, false, 0xe9],
    ['out 0xffff, edx', 0x67, 2, 0, false, 0xffff],
    ['mov cr3, ebx', 0x70, 3, 3, false, 0],
    ['mov esp, cr2', 0x71, 4, 2, false, 0],
    ['lidt [eax]', 0x72, 0, 0, false, 0],
    ['sidt [0x2000]', 0x73, 0, 0, true, 0x2000],
    ['ltr ecx', 0x74, 1, 0, false, 0],
    ['str edx', 0x75, 2, 0, false, 0],
    ['invlpg [ebx + 0x1000]', 0x76, 0, 3, false, 0x1000],
    ['mov esi, cs', 0x77, 6, 0, false, 0],
  ];

  test.each(FORMS)('%s', (src, opcode, a, b, nobase, imm) => {
    expect(bytesOf(src)).toEqual([...encode(opcode, a, b, nobase, imm)]);
  });

  test('every opcode except jcc appears in the table above', () => {
    const covered = new Set(FORMS.map((f) => f[1]));
    const missing = OPCODES.flatMap((info, op) => (info !== undefined && info.kind.k !== 'jcc' && !covered.has(op) ? [op] : []));
    expect(missing).toEqual([]);
  });

  test('jcc: every name and alias of COND_ALIASES', () => {
    for (const [alias, cond] of Object.entries(COND_ALIASES)) {
      expect(bytesOf(`j${alias} 0x40`)).toEqual([...encode(0x50 + cond, 0, 0, false, 0x40)]);
    }
    expect(bytesOf('jz 8')).toEqual(bytesOf('je 8'));
    expect(bytesOf('jc 8')).toEqual(bytesOf('jb 8'));
  });

  test('every byte register and control register', () => {
    ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'].forEach((r8, i) => {
      expect(bytesOf(`mov byte [eax], ${r8}`)).toEqual([...encode(0x15, i, 0, false, 0)]);
    });
    for (const n of [0, 2, 3, 4]) expect(bytesOf(`mov cr${n}, eax`)).toEqual([...encode(0x70, 0, n, false, 0)]);
  });

  test('memory operands: [reg], [reg + e], [reg - e], [e]', () => {
    expect(bytesOf('mov eax, [ecx]')).toEqual([...encode(0x12, 0, 1, false, 0)]);
    expect(bytesOf('mov eax, [ecx + 0x10]')).toEqual([...encode(0x12, 0, 1, false, 0x10)]);
    // -(4) + 1 = -3: the `-` is a unary minus on the whole displacement's first term.
    expect(bytesOf('mov eax, [ecx - 4 + 1]')).toEqual([...encode(0x12, 0, 1, false, 0xfffffffd)]);
    // NOBASE with b = 0 (DESIGN §3.10.10), even for address 0.
    expect(bytesOf('mov eax, [0]')).toEqual([...encode(0x12, 0, 0, true, 0)]);
    expect(bytesOf('lea eax, [1 + 2]')).toEqual([...encode(0x16, 0, 0, true, 3)]);
  });

  test('mnemonics, registers and directives are case-insensitive; symbols are not', () => {
    expect(bytesOf('MOV EAX, Cr0')).toEqual([...encode(0x71, 0, 0, false, 0)]);
    expect(bytesOf('.DD 1')).toEqual([1, 0, 0, 0]);
    expect(errorOf('Foo: jmp foo')).toBe("t.s:1:10: undefined symbol 'foo'");
  });
});

describe('expressions (DESIGN §3.10.16: C precedence, mod 2^32, unsigned)', () => {
  test.each([
    ['1 + 2 * 3', 7], // * before +
    ['(1 + 2) * 3', 9],
    ['1 << 2 + 1', 8], // + before <<: 1 << 3
    ['0xF0 | 0x0F & 0x3', 0xf3], // & before |: 0xF0 | 0x3
    ['1 | 2 ^ 3', 1], // ^ before |: 1 | (2 ^ 3 = 1)
    ['6 ^ 3 & 5', 7], // & before ^: 6 ^ (3 & 5 = 1)
    ['0x100 >> 4 | 1', 0x11], // >> before |
    ['10 - 2 - 3', 5], // left-associative
    ['64 / 4 / 2', 8], // left-associative
    ['100 / 7', 14], // integer division
    ['-1', 0xffffffff],
    ['-2 * 3', 0xfffffffa], // (-2) * 3 = -6
    ['- 8 / 2', 0x7ffffffc], // unary first: 0xFFFFFFF8 / 2, unsigned
    ['~0 >> 28', 0xf], // >> is logical
    ['~0x0F & 0xFF', 0xf0],
    ['--5', 5],
    ['1 << 31', 0x80000000],
    ['1 << 32', 0], // 2^32 mod 2^32
    ['0xFFFFFFFF + 1', 0], // wraps
    ['0x10000 * 0x10000', 0], // 2^32 mod 2^32
    ['0 - 1', 0xffffffff],
    ["'A' + 1", 0x42],
    ["'\\n'", 10],
    ["'\\''", 0x27],
    ['0b1010', 10],
    ['0X1f', 0x1f],
    ['007', 7], // decimal, not octal
    ['-0x80000000', 0x80000000], // the most negative 32-bit value
    ['4294967295', 0xffffffff],
  ])('%s = %d', (expr, value) => {
    expect(dd(expr)).toBe(value);
  });

  test('labels, .equ names and forward references (two passes)', () => {
    const src = [
      '.equ SIZE, end - start', // forward references to two labels
      '.org 0x100',
      'start: jmp end', // forward label in an instruction
      '.dd SIZE, LATER * 2', // .equ defined below
      'end:',
      '.equ LATER, 21',
    ].join('\n');
    const { image, symbols } = assemble(src);
    expect(image.chunks[0]!.bytes).toEqual(Uint8Array.from([...encode(0x40, 0, 0, false, 0x110), 16, 0, 0, 0, 42, 0, 0, 0]));
    expect([...symbols]).toEqual([
      ['SIZE', 16],
      ['start', 0x100],
      ['end', 0x110],
      ['LATER', 21],
    ]);
  });

  test('.org, .zero and .align may use labels and .equ names defined before them', () => {
    const { image } = assemble('.equ BASE, 0x200\n.org BASE\na: .db 1\n.zero a - 0x1fe\n.align N\n.equ N, 4\n.db 2');
    expect(image.chunks).toEqual([{ addr: 0x200, bytes: Uint8Array.from([1, 0, 0, 0, 2]) }]);
  });
});

describe('directives', () => {
  test('no .org: origin 0, entry = first instruction', () => {
    const { image } = assemble('.db 1, 2\nnop');
    expect(image).toEqual({ chunks: [{ addr: 0, bytes: Uint8Array.from([1, 2, 1, 0, 0, 0, 0, 0, 0, 0]) }], entry: 2 });
  });

  test('.org regions: sorted chunks, adjacent regions merged', () => {
    const { image } = assemble('.org 0x20\n.db 3\n.org 0x10\n.db 1\n.org 0x11\n.db 2');
    expect(image.chunks).toEqual([
      { addr: 0x10, bytes: Uint8Array.from([1, 2]) },
      { addr: 0x20, bytes: Uint8Array.from([3]) },
    ]);
  });

  test('.dd: little-endian words, range ends included', () => {
    expect(bytesOf('.dd 0x11223344, -0x80000000, 0xFFFFFFFF')).toEqual([0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff]);
  });

  test('.db: numbers (-128..255), characters and strings with every escape', () => {
    expect(bytesOf(".db 0, 255, -1, -128, 'a'")).toEqual([0, 255, 255, 0x80, 0x61]);
    expect(bytesOf('.db "a\\n\\t\\0\\\\\\"\\x41\\xfF", "", ";"')).toEqual([0x61, 10, 9, 0, 0x5c, 0x22, 0x41, 0xff, 0x3b]);
    // Code points up to 0xFF are bytes (the console's convention, DESIGN §3.10.14).
    expect(bytesOf('.db "é"')).toEqual([0xe9]);
  });

  test('.zero and .align pad with zero bytes', () => {
    expect(bytesOf('.db 1\n.zero 2\n.db 2')).toEqual([1, 0, 0, 2]);
    expect(bytesOf('.db 1\n.align 4\n.db 2\n.align 1\n.align 2')).toEqual([1, 0, 0, 0, 2, 0]);
    expect(bytesOf('.org 0x1003\n.align 8\n.db 9')).toEqual([0, 0, 0, 0, 0, 9]);
  });

  test('.entry', () => {
    expect(assemble('nop\nmain: hlt\n.entry main').image.entry).toBe(8);
    expect(assemble('.org 0x1000\n.dd 0\nnop').image.entry).toBe(0x1004);
    // No instruction: the first byte; nothing at all: 0.
    expect(assemble('.org 0x30\n.db 1').image.entry).toBe(0x30);
    expect(assemble('; nothing').image).toEqual({ chunks: [], entry: 0 });
  });

  test('labels: own line, shared with an instruction, several on a line; comments, CRLF', () => {
    const { symbols } = assemble('a:\nb: c: nop ; comment\r\n\t d:hlt;x\r\n');
    expect([...symbols]).toEqual([
      ['a', 0],
      ['b', 0],
      ['c', 0],
      ['d', 8],
    ]);
  });
});

describe('errors: FILE:LINE:COL: message', () => {
  test.each([
    // lexer
    ['nop\n  mov eax, @', "x.s:2:12: unexpected character '@'"],
    ['.dd 12ab', "x.s:1:5: invalid number '12ab'"],
    ['.dd 0x', "x.s:1:5: invalid number '0x'"],
    ['.dd 1 < 2', "x.s:1:7: unexpected character '<'"],
    ['.db "abc', 'x.s:1:5: unterminated string'],
    ['.db "a\\q"', "x.s:1:7: unknown escape '\\q' (known: \\n \\t \\0 \\\\ \\\" \\' \\xNN)"],
    ['.db "\\x4g"', 'x.s:1:6: \\x needs exactly two hex digits'],
    ['.db "€"', 'x.s:1:6: U+20AC is not a byte; write it as \\xNN'],
    [".dd ''", 'x.s:1:5: empty character literal'],
    [".dd 'ab'", 'x.s:1:5: a character literal holds exactly one character'],
    [".dd '", 'x.s:1:5: unterminated character literal'],
    // parser
    ['fnord eax', "x.s:1:1: unknown instruction 'fnord'"],
    ['.text', "x.s:1:1: unknown directive '.text' (known: .org .equ .dd .db .zero .align .entry .include)"],
    ['5: nop', "x.s:1:1: expected an instruction, a directive or a label, found '5'"],
    ['eax: nop', "x.s:1:1: 'eax' is a reserved word and cannot name a symbol"],
    ['.x: nop', "x.s:1:1: '.x' is not a valid symbol name (letters, digits, '_' and '.', not first a digit or '.')"],
    ['.equ 5, 1', "x.s:1:6: '.equ' expects a name, found '5'"],
    ['.equ X 1', "x.s:1:8: expected ',', found '1'"],
    ['.org 1, 2', "x.s:1:7: '.org' takes one argument"],
    ['.org 1 2', "x.s:1:8: expected end of line, found '2'"],
    ['.dd', 'x.s:1:4: expected an expression, found end of line'],
    ['mov eax,', 'x.s:1:9: expected an operand, found end of line'],
    ['mov eax, ebx ecx', "x.s:1:14: expected ',' or end of line, found 'ecx'"],
    ['mov eax, [ebx', "x.s:1:14: expected '+', '-' or ']', found end of line"],
    ['mov eax, [ebx * 2]', "x.s:1:15: expected '+', '-' or ']', found '*'"],
    ['mov eax, [al]', "x.s:1:11: 'al' cannot be a base register (use eax ecx edx ebx esp ebp esi edi)"],
    ['mov eax, [ebx + ecx]', "x.s:1:17: register 'ecx' cannot be used in an expression"],
    ['mov eax, cs + 1', "x.s:1:13: expected ',' or end of line, found '+'"],
    ['movzx eax, byte 5', "x.s:1:17: expected '[' after 'byte', found '5'"],
    ['mov cr1, eax', "x.s:1:5: no control register 'cr1' (VX32 has cr0 cr2 cr3 cr4)"],
    ['.db 1, "a" + 1', "x.s:1:12: expected ',' or end of line, found '+'"],
    ['.dd "a"', 'x.s:1:5: a string is only allowed in .db'],
    ['.dd (1', "x.s:1:7: expected ')', found end of line"],
    ['.dd )', "x.s:1:5: expected an expression, found ')'"],
    ['.dd ' + '('.repeat(200) + '1', 'x.s:1:106: expression nested too deeply'],
    // operand forms and ranges
    ['mov exx, 1', "x.s:1:5: unknown register 'exx'"],
    ['nop eax', "x.s:1:5: 'nop' takes no operands"],
    ['push', "x.s:1:1: 'push' takes 1 operand"],
    ['add eax', "x.s:1:1: 'add' takes 2 operands"],
    ['add eax, [ebx]', "x.s:1:10: 'add' expects a register or an immediate here, found a memory operand"],
    ['add al, 1', "x.s:1:5: 'add' expects a register here, found byte register 'al'"],
    ['mov byte [eax], eax', "x.s:1:17: 'mov' expects a byte register (al cl dl bl spl bpl sil dil) here, found register 'eax'"],
    ['movzx eax, [ebx]', "x.s:1:12: 'movzx' expects 'byte [m]' here, found a memory operand"],
    ['mov 5, eax', "x.s:1:5: 'mov' expects a register, a memory operand [m], 'byte [m]' or a control register here, found an immediate"],
    ['int 256', 'x.s:1:5: interrupt vector 256 out of range (0..255)'],
    ['int -1', 'x.s:1:5: interrupt vector 4294967295 out of range (0..255)'],
    ['shl eax, 32', 'x.s:1:10: shift count 32 out of range (0..31)'],
    ['in eax, 0x10000', 'x.s:1:9: port 65536 out of range (0..0xFFFF)'],
    ['out 0x10000, eax', 'x.s:1:5: port 65536 out of range (0..0xFFFF)'],
    ['mov eax, 0x100000000', 'x.s:1:10: number 0x100000000 does not fit in 32 bits'],
    ['.dd 4294967296', 'x.s:1:5: number 4294967296 does not fit in 32 bits'],
    ['.dd -0x80000001', 'x.s:1:5: -0x80000001 does not fit in 32 bits (allowed: -2^31 .. 2^32-1)'],
    ['.db 256', 'x.s:1:5: byte value 256 out of range (-128..255)'],
    ['.db -129', 'x.s:1:5: byte value 4294967167 out of range (-128..255)'],
    // symbols
    ['jmp nowhere', "x.s:1:5: undefined symbol 'nowhere'"],
    ['a: nop\nb: nop\na: nop', "x.s:3:1: 'a' is already defined on line 1"],
    ['a: nop\n.equ a, 1', "x.s:2:6: 'a' is already defined on line 1"],
    ['.equ A, B\n.equ B, A + 1\n.dd A', "x.s:2:9: circular definition of 'A'"],
    ['.org x\nx:', "x.s:1:6: label 'x' is defined later (line 2); .org, .zero and .align need values known at that point"],
    ['.dd 1 / (2 - 2)', 'x.s:1:7: division by zero'],
    // layout
    ['.org 0x10\nnop\n.org 0xc\nnop', 'x.s:3:1: region 0xc..0x13 overlaps region 0x10..0x17 from the .org on line 1'],
    ['.dd 1\n.org 2\n.db 1', 'x.s:2:1: region 0x2..0x2 overlaps region 0x0..0x3 from the start of the file'],
    ['.org 0xFFFFFFF8\nnop\nnop', 'x.s:3:1: this statement runs past address 0xFFFFFFFF'],
    ['.zero 0x4000001', 'x.s:1:1: the image would exceed 64 MiB'],
    ['.align 12', 'x.s:1:8: alignment 12 is not a power of two'],
    ['.align 0', 'x.s:1:8: alignment 0 is not a power of two'],
    ['.entry a\na: nop\n.entry a', 'x.s:3:1: duplicate .entry (the first is on line 1)'],
  ])('%j', (src, message) => {
    expect(errorOf(src, 'x.s')).toBe(message);
  });

  test('the default file name, and the fields of AsmError', () => {
    try {
      assemble('\n\n   bad');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ name: 'AsmError', message: "<input>:3:4: unknown instruction 'bad'", file: '<input>', line: 3, col: 4 });
    }
  });
});

describe('fuzz: any input string gives a result or an AsmError, never anything else', () => {
  const WORDS = [
    'mov',
    'movzx',
    'byte',
    'eax',
    'al',
    'cr0',
    'cr5',
    'cs',
    'jz',
    'int',
    'push',
    'lea',
    'out',
    'x',
    'x:',
    '.org',
    '.equ',
    '.dd',
    '.db',
    '.zero',
    '.align',
    '.entry',
    '0x',
    '1',
    '-1',
    '0xFFFFFFFF',
    '99999999999',
    "'a'",
    '"s\\x4"',
    '"',
    "'",
    '\\',
    '[',
    ']',
    '(',
    ')',
    ',',
    '+',
    '-',
    '*',
    '/',
    '<<',
    '>>',
    '&',
    '|',
    '^',
    '~',
    ';',
    '\n',
    '\t',
  ];
  const sourceArb = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.array(fc.constantFrom(...WORDS), { maxLength: 30 }).map((w) => w.join(' ')),
    fc.array(fc.constantFrom(...WORDS), { maxLength: 30 }).map((w) => w.join('')),
  );

  test('random sources', () => {
    fc.assert(
      fc.property(sourceArb, (src) => {
        try {
          assemble(src, 'f.s');
        } catch (e) {
          if (!(e instanceof AsmError)) throw e;
          const lines = src.split('\n');
          expect(e.message).toMatch(/^f\.s:\d+:\d+: \S/);
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.line).toBeLessThanOrEqual(lines.length);
          expect(e.col).toBeGreaterThanOrEqual(1);
          expect(e.col).toBeLessThanOrEqual(lines[e.line - 1]!.length + 1);
        }
      }),
      { seed: 0x5eed, numRuns: 3000 },
    );
  });
});
