// The disassembler's text: hex immediates, memory operand spellings, `.db` for #UD.

import { expect, test } from 'vitest';
import { encode } from '../isa.ts';
import { disassemble, disassembleInsn } from './disassemble.ts';

test.each([
  [encode(0x11, 0, 0, false, 0xe9), 'mov eax, 0xe9'],
  [encode(0x12, 1, 5, false, 0), 'mov ecx, [ebp]'],
  [encode(0x12, 1, 5, false, 8), 'mov ecx, [ebp + 0x8]'],
  [encode(0x13, 1, 5, false, 0xfffffffc), 'mov [ebp - 0x4], ecx'],
  [encode(0x13, 1, 5, false, 0x80000000), 'mov [ebp - 0x80000000], ecx'],
  [encode(0x14, 2, 0, true, 0), 'movzx edx, byte [0x0]'],
  [encode(0x15, 4, 3, false, 0), 'mov byte [ebx], spl'],
  [encode(0x54, 0, 0, false, 0x1000), 'je 0x1000'],
  [encode(0x67, 0, 0, false, 0xe9), 'out 0xe9, eax'],
  [encode(0x70, 6, 4, false, 0), 'mov cr4, esi'],
  [encode(0x71, 6, 3, false, 0), 'mov esi, cr3'],
  [encode(0x77, 7, 0, false, 0), 'mov edi, cs'],
  [encode(0x5a, 0, 0, false, 0), '.db 0x5a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00'],
  [encode(0x01, 1, 0, false, 0), '.db 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00'],
  [Uint8Array.from([1, 0, 0]), '.db 0x01, 0x00, 0x00'],
])('%s → %s', (bytes, text) => {
  expect(disassembleInsn(bytes)).toBe(text);
});

test('a listing: .org, one line per 8 bytes with its address, a short tail as .db', () => {
  const bytes = Uint8Array.from([...encode(0x01, 0, 0, false, 0), ...encode(0x02, 0, 0, false, 0), 0xab]);
  expect(
    disassemble(bytes, 0x1000)
      .split('\n')
      .map((l) => l.trimEnd()),
  ).toEqual([
    '.org 0x1000',
    `    ${'nop'.padEnd(48)} ; 00001000`,
    `    ${'hlt'.padEnd(48)} ; 00001008`,
    `    ${'.db 0xab'.padEnd(48)} ; 00001010`,
    '',
  ]);
});
