// The interpreter's software MMU against DESIGN §3.5: A/D bits, #PF error codes, CR2,
// straddling accesses and reserved bits of 4 MiB pages. Expected words and codes are
// composed by hand from the bit positions §3.5 gives.

import { describe, expect, test } from 'vitest';
import { PD, PT, boot, gate, idt, pagingOn, run, toUser, word } from './harness.ts';

const P = 0x1;
const RW = 0x2;
const US = 0x4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;

const pte = (page: number) => PT + 4 * page;

describe('A/D bits (§3.5.5)', () => {
  const source = `
${pagingOn()}
  mov eax, 0x1234
  mov [0x50000], eax
  mov ebx, [0x60000]
  hlt
`;

  test('a write sets PDE.A, PTE.A and PTE.D; a read sets PTE.A only', () => {
    const o = run(source);
    expect(o.status).toBe('halted');
    expect(word(o.ram, PD)).toBe(PT | P | RW | US | A);
    expect(word(o.ram, pte(0x50))).toBe(0x50000 | P | RW | US | A | D);
    expect(word(o.ram, pte(0x60))).toBe(0x60000 | P | RW | US | A);
    expect(word(o.ram, pte(0x70))).toBe(0x70000 | P | RW | US); // never touched
  });

  test('catalog bug interpret-no-ad: the same run leaves every gpte as it was written', () => {
    const o = run(source, [], 100_000, { bugs: ['interpret-no-ad'] });
    expect(word(o.ram, PD)).toBe(PT | P | RW | US);
    expect(word(o.ram, pte(0x50))).toBe(0x50000 | P | RW | US);
  });
});

describe('#PF error codes and CR2 (§3.5.6)', () => {
  test('a user write to a read-only page: P W U = 7, CR2 = the address, eip = the store', () => {
    const { engine, symbols } = boot(`
${pagingOn(P | US)}
${toUser()}
user:
site:
  mov [0x60004], eax
handler:
  hlt
unexpected:
  hlt
${idt({ 14: gate('handler') })}
`);
    const o = engine.run([], 100_000);
    expect(o.trace).toEqual([
      { icount: o.icount - 1, kind: 'exception', vector: 14, errorCode: P | RW | US, cr2: 0x60004, eip: symbols.get('site') },
    ]);
    expect(o.cr2).toBe(0x60004);
  });

  test('a straddling read whose second page is absent: CR2 is that page, the first page keeps its A bit', () => {
    const { engine, symbols } = boot(`
${pagingOn()}
  lidt [idtr]
  mov esp, 0x80000
  mov eax, 0
  mov [${pte(0x61)}], eax
  mov ebx, 0x5A5A
site:
  mov ebx, [0x60FFE]
handler:
  hlt
unexpected:
  hlt
${idt({ 14: gate('handler') })}
`);
    const o = engine.run([], 100_000);
    // Supervisor read of a not-present page: P = 0, W = 0, U = 0.
    expect(o.trace).toEqual([
      { icount: o.icount - 1, kind: 'exception', vector: 14, errorCode: 0, cr2: 0x61000, eip: symbols.get('site') },
    ]);
    expect(word(o.ram, pte(0x60)) & A).toBe(A);
    expect(o.regs.ebx).toBe(0x5a5a); // a faulting load has no effect (§3.4)
  });

  test('a 4 MiB page with a reserved bit (13) set: RSVD and P (§3.10.1)', () => {
    const { engine, symbols } = boot(`
${pagingOn()}
  lidt [idtr]
  mov esp, 0x80000
  mov eax, 0x10
  mov cr4, eax
  mov eax, ${0x400000 | 0x2000 | PS | RW | P}
  mov [${PD + 4}], eax
site:
  mov ebx, [0x400010]
handler:
  hlt
unexpected:
  hlt
${idt({ 14: gate('handler') })}
`);
    const o = engine.run([], 100_000);
    expect(o.trace).toEqual([
      { icount: o.icount - 1, kind: 'exception', vector: 14, errorCode: P | 0x8, cr2: 0x400010, eip: symbols.get('site') },
    ]);
    expect(word(o.ram, PD + 4) & A).toBe(0); // a faulting walk sets no A/D bit
  });
});
