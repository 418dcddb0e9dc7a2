// The bt VMM's mechanisms on small hand-written guests (DESIGN §5 `bt`, src/vmm/bt/README.md):
// popf and pushf as callouts (no trap), the translation cache invalidated by self-modifying
// code (and what a stale translation does), adaptive translation of a store that keeps
// trace-faulting on a page table. Expected values are worked out by hand from DESIGN §3
// and the README; the equivalence itself is the lockstep tests' and `popek check`'s.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { BtEngine } from '../../src/engines/bt.ts';
import { VEC_GP } from '../../src/hw/arch.ts';
import { ADAPT_THRESHOLD } from '../../src/vmm/bt/vmm.ts';

function bt(source: string, bugs: string[] = []): BtEngine {
  const e = new BtEngine(assemble(source, 'test.s').image, { ramBytes: 1 << 20, bugs });
  e.run([], 10_000);
  return e;
}

test('popf and pushf are callouts: the virtual IF round-trips and no #GP trap is taken', () => {
  const e = bt(`
    mov esp, 0x8000
    pushf              ; eflags at reset: 0x2
    pop eax
    mov ecx, eax
    or eax, 0x200
    push eax
    popf               ; IF on, at guest ring 0 (real ring 1, where a native popf keeps IF)
    pushf
    pop ebx
    hlt`);
  const o = e.observe();
  expect(o.regs.ecx).toBe(0x2);
  expect(o.regs.ebx).toBe(0x202);
  expect(o.eflags).toBe(0x202);
  const c = e.counters();
  expect([c['callout.pushf'], c['callout.popf'], c['callout.hlt'], c.callouts]).toEqual([2, 1, 1, 4]);
  expect(e.legacy.trapsByVector[VEC_GP]).toBe(0);
});

// The loop runs `site` twice: first the nop it was assembled with, then — after the loop
// body copies `patch` over it — `mov eax, cs`, which at guest ring 0 reads 0x08.
const SMC = `
start:
    mov esp, 0x8000
    mov ecx, 2
again:
site:
    nop
    mov edx, [patch]
    mov [site], edx
    mov edx, [patch + 4]
    mov [site + 4], edx
    dec ecx
    jnz again
    hlt
patch:
    mov eax, cs`;

test('a store into translated code invalidates it: the patched instruction is translated anew', () => {
  const e = bt(SMC);
  expect(e.observe().regs.eax).toBe(0x08);
  const c = e.counters();
  expect(c['bt.tcInvalidations']).toBeGreaterThanOrEqual(1);
  expect(c['callout.mov-cs']).toBe(1);
});

test('bt-stale-translation: the old IDENT translation runs the new `mov eax, cs` natively, at real ring 1', () => {
  expect(bt(SMC, ['bt-stale-translation']).observe().regs.eax).toBe(0x19);
});

test('adaptive translation: a kernel store that trace-faults ADAPT_THRESHOLD times becomes a STORE callout', () => {
  // Identity-map 0–128 KiB through one table at 0x11000, turn paging on (the table is now
  // shadowed, so traced), then store 5 times into an unused entry of that live table.
  const e = bt(`
.equ PD, 0x10000
.equ PT, 0x11000
    mov esp, 0x8000
    mov ecx, 0
    mov ebx, PT
fill:
    mov eax, ecx
    shl eax, 12
    or eax, 3
    mov [ebx], eax
    add ebx, 4
    inc ecx
    cmp ecx, 32
    jne fill
    mov eax, PT + 3
    mov [PD], eax
    mov eax, PD
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax
    mov ecx, 5
edit:
    mov [PT + 40 * 4], ecx
    dec ecx
    jnz edit
    hlt`);
  const c = e.counters();
  expect(ADAPT_THRESHOLD).toBe(2);
  expect(c.traceFaults).toBe(2);
  expect(c['bt.adaptive']).toBe(1);
  expect(c['callout.store']).toBe(3);
  expect(e.observe().status).toBe('halted');
});
