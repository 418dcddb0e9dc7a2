// Event delivery and the schedule on the interpreter (DESIGN §3.7, §3.8, §3.10): the
// ring switch, int n's icount, escalation to shutdown, popf's silent IF, the STI shadow,
// time jumps while halted, and host-only events being invisible. Expected values are
// worked out by hand from those clauses.

import { describe, expect, test } from 'vitest';
import type { HostEvent } from '../../spec/observation.ts';
import { KSTACK, USTACK, boot, gate, idt, pagingOn, run, toUser, word } from './harness.ts';

/** toUser() is 12 instructions: lidt, 2× ltr setup, 2× ESP0, mov esp, 5 pushes, iret. */
const USER_ENTRY_ICOUNT = 12;

function userProgram(user: string, gates: Record<number, string>): string {
  return `
${toUser()}
user:
${user}
handler:
  hlt
unexpected:
  hlt
${idt(gates)}
`;
}

describe('delivery (§3.7)', () => {
  test('int n from ring 3: ESP0 frame of SS, esp, eflags, CS, eip; trace icount before the int retires', () => {
    const { engine, symbols } = boot(userProgram('site:\n  int 0x80', { 0x80: gate('handler', 0xee) }));
    const o = engine.run([], 1000);
    const ret = symbols.get('site')! + 8;
    expect(o.trace).toEqual([{ icount: USER_ENTRY_ICOUNT, kind: 'software', vector: 0x80, eip: ret }]);
    expect(o.icount).toBe(USER_ENTRY_ICOUNT + 2); // the int, then the handler's hlt
    expect(o.cpl).toBe(0);
    expect(o.regs.esp).toBe(KSTACK - 20);
    expect([0, 4, 8, 12, 16].map((off) => word(o.ram, KSTACK - 20 + off))).toEqual([ret, 0x3b, 0x2, USTACK, 0x43]);
  });

  test('int n through a DPL 0 gate from ring 3: #GP(8n+2), saving the eip of the int', () => {
    const { engine, symbols } = boot(userProgram('site:\n  int 0x81', { 13: gate('handler') }));
    const o = engine.run([], 1000);
    expect(o.trace).toEqual([
      { icount: USER_ENTRY_ICOUNT, kind: 'exception', vector: 13, errorCode: 8 * 0x81 + 2, eip: symbols.get('site') },
    ]);
    expect(o.icount).toBe(USER_ENTRY_ICOUNT + 1); // the int never retired; the handler's hlt did
  });

  test('no IDT: #UD → #GP(limit) → #DF → #GP → shutdown, one trace entry', () => {
    const { engine } = boot('  ud2');
    expect(engine.step()).toBe('shutdown');
    expect(engine.observe().trace).toEqual([{ icount: 0, kind: 'shutdown', chain: [6, 13, 8, 13] }]);
    expect(engine.status()).toBe('shutdown');
    expect(engine.step()).toBe('shutdown');
  });

  test('#PF while delivering #PF escalates to #DF with error code 0 and the faulting eip', () => {
    // The kernel stack is unmapped (PTE 0x7F cleared), so pushing the #PF frame faults.
    const { engine, symbols } = boot(`
${pagingOn()}
  lidt [idtr]
  mov eax, 0
  mov [${0x11000 + 4 * 0x7f}], eax
  mov esp, 0x80000
  mov [${0x11000 + 4 * 0x50}], eax
site:
  mov ebx, [0x50000]
handler:
  hlt
df:
  mov esp, 0x60000
  hlt
unexpected:
  hlt
${idt({ 14: gate('handler'), 8: gate('df') })}
`);
    const o = engine.run([], 100_000);
    // The #DF frame is pushed at esp 0x80000 too and faults again: a fault while
    // delivering #DF is a triple fault (§3.7).
    expect(o.status).toBe('shutdown');
    // The chain: the #PF, the #DF it became, the #PF that hit the #DF.
    expect(o.trace).toEqual([{ icount: o.icount, kind: 'shutdown', chain: [14, 8, 14] }]);
    // CR2 was written when the last #PF was detected (§3.10.2): the top of the stack page.
    expect(o.cr2).toBe(0x7fffc);
    expect(o.eip).toBe(symbols.get('site'));
  });
});

describe('popf and the STI shadow (§3.4, §3.10.6)', () => {
  test('popf at ring 3 with IOPL 0 leaves IF alone and does not fault', () => {
    const o = run(userProgram('  push 0x8C3\n  popf\n  pushf\n  pop eax\nspin:\n  jmp spin', {}), [], 200);
    // CF ZF SF OF (0x8C1) change, IF (0x200) cannot, bit 1 stays.
    expect(o.regs.eax).toBe(0x8c3);
    expect(o.trace).toEqual([]);
  });

  test('an irq pending across sti waits one instruction, then is delivered', () => {
    const { engine } = boot(`
  lidt [idtr]
  mov esp, 0x80000
  sti
  nop
  nop
handler:
  hlt
unexpected:
  hlt
${idt({ 32: gate('handler') })}
`);
    const irq: HostEvent = { at: 0, kind: 'irq', vector: 32 };
    engine.fire(irq);
    expect(engine.step()).toBe('retired'); // lidt (IF 0)
    expect(engine.step()).toBe('retired'); // mov esp
    expect(engine.step()).toBe('retired'); // sti: IF 0 → 1, shadow
    expect(engine.step()).toBe('retired'); // the shadow holds 32 back for one nop
    expect(engine.step()).toBe('delivered');
    expect(engine.observe().trace).toEqual([{ icount: 4, kind: 'interrupt', vector: 32, eip: 0x20 }]);
  });
});

describe('the schedule (§3.8, §3.10.8–9)', () => {
  const timer = `
  lidt [idtr]
  mov esp, 0x80000
  sti
idle:
  hlt
  jmp idle
handler:
  iret
unexpected:
  hlt
${idt({ 32: gate('handler') })}
`;

  test('while halted, time jumps to the next event; the run ends halted when none is left', () => {
    const o = run(timer, [
      { at: 1000, kind: 'irq', vector: 32 },
      { at: 5000, kind: 'irq', vector: 32 },
    ]);
    expect(o.status).toBe('halted');
    // lidt, mov esp, sti, hlt = 4; each tick delivers (icount unchanged), iret, jmp, hlt.
    expect(o.trace.map((t) => t.icount)).toEqual([4, 7]);
    expect(o.icount).toBe(10);
  });

  test('host-only events change no observation', () => {
    const source = `${pagingOn()}\n  mov eax, 0x77\n  mov [0x50000], eax\n${timer}`;
    const hostOnly: HostEvent[] = [
      { at: 3, kind: 'swap-out', gpa: 0x50000 },
      { at: 5, kind: 'migrate', gpa: 0x11000 },
      { at: 8, kind: 'evict-shadow', count: 4 },
      { at: 9, kind: 'flush-tlb' },
      { at: 30, kind: 'reclaim', frames: 2 },
      { at: 40, kind: 'switch-vm' },
    ];
    const tick: HostEvent = { at: 2000, kind: 'irq', vector: 32 };
    const quiet = run(source, [tick]);
    const busy = run(source, [...hostOnly, tick]);
    expect({ ...busy, ram: Buffer.from(busy.ram).toString('base64') }).toEqual({
      ...quiet,
      ram: Buffer.from(quiet.ram).toString('base64'),
    });
  });
});

describe('counters (DESIGN §9)', () => {
  test('every guest instruction is interpreted; with paging on, every access walks', () => {
    // 16 instructions of pagingOn() before paging is on, the last (mov cr0) included.
    const { engine } = boot(`${pagingOn()}\n  mov eax, [0x50000]\n  hlt`);
    engine.run([], 100_000);
    const c = engine.counters();
    expect(c.interpreted).toBe(c.instructions); // no fault: one decode per retired instruction
    // After paging is on: 2 fetches and 1 load, one walk each (no TLB, §3.6), each
    // reading a PDE and a PTE and setting PDE.A, PTE.A on first use.
    expect(c.pageWalks).toBe(3);
    expect(c.walkRefs).toBe(3 * 2 + 1 + 2); // + PDE.A once, PTE.A for the code page and the data page
    expect(c.exits).toBe(0);
  });
});
