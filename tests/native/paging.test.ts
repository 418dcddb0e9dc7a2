// Paging on the native engine: the TLB really caches (hit/miss/walk counts, flushes),
// yet stays invisible (DESIGN §3.6: every access sees the tables as they are in memory),
// and A/D bits and #PF error codes follow DESIGN §3.5.

import { describe, expect, test } from 'vitest';
import { ACC_READ, ACC_USER, ACC_WRITE } from '../../src/hw/arch.ts';
import type { NativeEngine } from '../../src/engines/native.ts';
import { boot, gate, idt, PAGING_ON, PT, PD, word } from './helpers.ts';

const A = 0x20;
const D = 0x40;

/**
 * A program that turns paging on (identity map of 1 MiB, every page P|RW|US), reaches
 * the label `paged`, runs `body`, then halts. A #PF lands in `pf`, which stores CR2 in
 * esi, pops the error code into edi and halts.
 */
function paging(body: string, data = ''): string {
  return `
  lidt [idtr]
  mov esp, 0x80000
  ${PAGING_ON}
paged:
  ${body}
  hlt
pf:
  mov esi, cr2
  pop edi
  hlt
unexpected:
  hlt
${idt({ 14: gate('pf') }, 32)}
${data}
`;
}

const pte = (ram: Uint8Array, page: number): number => word(ram, PT + 4 * page);

/** Step until eip reaches `label`, so counters can be read from there on. */
function stepTo(engine: NativeEngine, symbols: ReadonlyMap<string, number>, label: string): Record<string, number> {
  const target = symbols.get(label)!;
  while (engine.observe().eip !== target) engine.step();
  return engine.counters();
}

describe('TLB (DESIGN §4: it really caches)', () => {
  test('one walk per page, then hits', () => {
    const { engine, symbols } = boot(
      paging(`
  mov ecx, 100
l: mov eax, [0x5000]
  dec ecx
  jnz l`),
    );
    const before = stepTo(engine, symbols, 'paged');
    engine.run([], 10_000);
    const after = engine.counters();
    // After the CR0 write flushed: one walk for the code page, one for 0x5000.
    expect(after.walks! - before.walks!).toBe(2);
    expect(after.tlbMisses! - before.tlbMisses!).toBe(2);
    // 302 fetches (mov, 100 × 3, hlt) and 100 loads, all hits but the two misses.
    expect(after.tlbHits! - before.tlbHits!).toBe(302 + 100 - 2);
  });

  test('mov cr3 flushes: every reload costs a code walk and a data walk', () => {
    const { engine, symbols } = boot(
      paging(`
  mov edi, ${PD}
  mov ecx, 100
l: mov eax, [0x5000]
  mov cr3, edi
  dec ecx
  jnz l`),
    );
    const before = stepTo(engine, symbols, 'paged');
    engine.run([], 10_000);
    const after = engine.counters();
    expect(after.walks! - before.walks!).toBe(1 + 100 * 2);
    expect(after.tlbFlushes! - before.tlbFlushes!).toBe(100);
    // A PDE read and a PTE read per walk.
    expect(after.walkRefs! - before.walkRefs!).toBe(2 * (1 + 100 * 2));
  });

  test('a page-table store is seen by the next access, without invlpg (DESIGN §3.6)', () => {
    const o = boot(
      paging(
        `
  mov eax, [0x5000]
  mov edx, 0x6007
  mov [${PT + 4 * 5}], edx
  mov ebx, [0x5000]`,
        '.org 0x5000\n .dd 0x1111\n.org 0x6000\n .dd 0x2222',
      ),
    ).engine.run([], 10_000);
    expect(o.regs.eax).toBe(0x1111);
    expect(o.regs.ebx).toBe(0x2222);
    expect(pte(o.ram, 5)).toBe(0x6007 | A);
  });

  test('a PDE store is seen too (unmapping a whole table)', () => {
    const o = boot(
      paging(`
  mov eax, [0x5000]
  mov edx, 0
  mov [${PD}], edx
  mov ebx, [0x5000]`),
    ).engine.run([], 10_000);
    // The next fetch already faults (the code is unmapped too) and so does delivery:
    // #PF, then #PF reading its gate → #DF, #PF reading the #DF gate → shutdown. CR2 is
    // written at each detection (DESIGN §3.10.2), so it ends at the #DF gate.
    expect(o.status).toBe('shutdown');
    expect(o.trace).toEqual([{ icount: o.icount, kind: 'shutdown', chain: [14, 8, 14] }]);
    expect(o.cr2).toBe(0x3000 + 8 * 8);
  });

  test('clearing A by a store makes the next access set it again', () => {
    const o = boot(
      paging(`
  mov eax, [0x5000]
  mov edx, 0x5007
  mov [${PT + 4 * 5}], edx
  mov ecx, [${PT + 4 * 5}]
  mov eax, [0x5000]`),
    ).engine.run([], 10_000);
    expect(o.regs.ecx).toBe(0x5007);
    expect(pte(o.ram, 5)).toBe(0x5007 | A);
  });

  test('host flush-tlb and the other host-only events change no observation', () => {
    const src = paging(`
  mov ecx, 50
l: mov eax, [ecx + 0x5000]
  add eax, ecx
  mov [0x6000], eax
  mov [${PT + 4 * 7}], eax
  dec ecx
  jnz l`);
    const plain = boot(src).engine.run([], 10_000);
    const events = [5, 20, 21, 40, 77, 150, 151].flatMap((at) => [
      { at, kind: 'flush-tlb' as const },
      { at, kind: 'swap-out' as const, gpa: 0x5000 },
      { at, kind: 'migrate' as const, gpa: 0x6000 },
      { at, kind: 'evict-shadow' as const, count: 3 },
      { at, kind: 'reclaim' as const, frames: 2 },
      { at, kind: 'switch-vm' as const },
    ]);
    const withEvents = boot(src).engine.run(events, 10_000);
    expect({ ...withEvents, ram: [...withEvents.ram] }).toEqual({ ...plain, ram: [...plain.ram] });
  });

  test('invlpg only drops a host TLB entry', () => {
    const { engine } = boot(
      paging(
        `
  mov eax, [0x5000]
  invlpg [0x5000]
  mov ebx, [0x5000]`,
        '.org 0x5000\n .dd 7',
      ),
    );
    const o = engine.run([], 10_000);
    expect(o.regs.ebx).toBe(7);
    expect(engine.counters().tlbInvalidations).toBe(1);
  });
});

describe('A/D bits (DESIGN §3.5.5)', () => {
  test('a read sets A in PDE and PTE, a write sets D; a write hit after a read re-walks for D', () => {
    const o = boot(
      paging(`
  mov eax, [0x5000]
  mov eax, [0x7000]
  mov [0x7000], eax
  mov [0x8000], eax`),
    ).engine.run([], 10_000);
    expect(word(o.ram, PD)).toBe(PT | 7 | A);
    expect(pte(o.ram, 5)).toBe(0x5007 | A);
    expect(pte(o.ram, 7)).toBe(0x7007 | A | D);
    expect(pte(o.ram, 8)).toBe(0x8007 | A | D);
    expect(pte(o.ram, 9)).toBe(0x9007);
  });

  test('CR0.WP: a supervisor write to a read-only page succeeds with WP = 0, faults with WP = 1', () => {
    const { engine, symbols } = boot(
      paging(`
  mov edx, 0x8005
  mov [${PT + 4 * 8}], edx
  mov [0x8000], edx
  mov edx, 0x9005
  mov [${PT + 4 * 9}], edx
  mov eax, 0x80010001
  mov cr0, eax
fault:
  mov [0x9000], edx`),
    );
    const o = engine.run([], 10_000);
    expect(pte(o.ram, 8)).toBe(0x8005 | A | D);
    expect(word(o.ram, 0x8000)).toBe(0x8005);
    expect(o.regs.esi).toBe(0x9000); // cr2
    expect(o.regs.edi).toBe(0b011); // P | W, supervisor
    expect(pte(o.ram, 9)).toBe(0x9005); // a faulting translation sets no A/D
    expect(word(o.ram, 0x9000)).toBe(0);
    // The handler ran three instructions (mov, pop, hlt) after the delivery.
    expect(o.trace).toEqual([
      { icount: o.icount - 3, kind: 'exception', vector: 14, errorCode: 3, cr2: 0x9000, eip: symbols.get('fault') },
    ]);
  });

  test('not present: error code without P, with W for a write', () => {
    const o = boot(paging(`  mov [0x400000], eax`)).engine.run([], 10_000);
    expect(o.regs.esi).toBe(0x400000);
    expect(o.regs.edi).toBe(0b010);
  });

  test('4 MiB pages with CR4.PSE: permissions and A/D from the PDE, reserved bits 13–21', () => {
    const o = boot(
      paging(
        `
  mov eax, 0x10
  mov cr4, eax
  mov eax, 0x87
  mov [${PD + 4}], eax
  mov ebx, [0x405000]
  mov [0x406000], ebx
  mov eax, 0x2087
  mov [${PD + 8}], eax
  mov ecx, [0x800000]`,
        '.org 0x5000\n .dd 0xfeed',
      ),
    ).engine.run([], 10_000);
    expect(o.regs.ebx).toBe(0xfeed);
    expect(word(o.ram, 0x6000)).toBe(0xfeed);
    expect(word(o.ram, PD + 4)).toBe(0x87 | A | D);
    expect(o.regs.esi).toBe(0x800000);
    expect(o.regs.edi).toBe(0b1001); // P | RSVD
    expect(word(o.ram, PD + 8)).toBe(0x2087);
  });

  test('a straddling access translates both pages first: #PF on the second, CR2 its first byte, A on the first only', () => {
    const o = boot(
      paging(`
  mov edx, 0
  mov [${PT + 4 * 6}], edx
  mov eax, 0x11223344
  mov [0x5ffe], eax`),
    ).engine.run([], 10_000);
    expect(o.regs.esi).toBe(0x6000);
    expect(o.regs.edi).toBe(0b010);
    expect(pte(o.ram, 5)).toBe(0x5007 | A | D);
    expect(word(o.ram, 0x5ffc)).toBe(0);
  });
});

describe('host-side views', () => {
  test('flush-tlb really empties the TLB', () => {
    const { engine } = boot(paging('  mov eax, [0x5000]'));
    engine.run([], 10_000);
    expect(engine.cpu.tlb.validCount()).toBeGreaterThan(0);
    engine.fire({ at: 0, kind: 'flush-tlb' });
    expect(engine.cpu.tlb.validCount()).toBe(0);
  });

  test('probe translates without setting A/D or filling the TLB', () => {
    const { engine } = boot(paging(''));
    const o = engine.run([], 10_000);
    const fills = engine.cpu.tlb.fills;
    expect(engine.cpu.mmu.probe(0x9123, ACC_WRITE | ACC_USER)).toBe(0x9123);
    expect(engine.cpu.mmu.probe(0x400000, ACC_READ)).toBe(-1);
    expect(pte(o.ram, 9)).toBe(0x9007);
    expect(engine.cpu.tlb.fills).toBe(fills);
  });
});
