// Event delivery on the native engine (DESIGN §3.7, §3.10): gates, the ring switch,
// error codes and saved eips, escalation to #DF and shutdown, external interrupts with
// the STI shadow and halt, and the run schedule (DESIGN §3.8, §3.10.8–9).

import { describe, expect, test } from 'vitest';
import type { HostEvent } from '../../spec/observation.ts';
import { boot, gate, idt, PAGING_ON, PT, word } from './helpers.ts';

const KSTACK = 0x80000;
const USTACK = 0x70000;

/**
 * Load the IDT and a task-state area with ESP0 = KSTACK, then iret to ring 3 at `user`
 * (CS 0x3B, SS 0x43, eflags `userFlags`).
 */
function toUser(userFlags = 0x2): string {
  return `
  lidt [idtr]
  mov eax, 0x3800
  ltr eax
  mov eax, ${KSTACK}
  mov [0x3804], eax
  mov esp, ${KSTACK}
  push 0x43
  push ${USTACK}
  push ${userFlags}
  push 0x3B
  push user
  iret
`;
}

function program(prelude: string, user: string, gates: Record<number, string>, handlers = ''): string {
  return `
${prelude}
user:
${user}
handler:
  hlt
unexpected:
  hlt
${handlers}
${idt(gates)}
`;
}

describe('delivery (DESIGN §3.7)', () => {
  test('int n from ring 3 switches to ESP0 and pushes SS, esp, eflags, CS, eip', () => {
    const { engine, symbols } = boot(program(toUser(), 'call_site:\n  int 0x80', { 0x80: gate('handler', 0xee) }));
    const o = engine.run([], 1000);
    const ret = symbols.get('call_site')! + 8;
    expect(o.trace).toEqual([{ icount: 12, kind: 'software', vector: 0x80, eip: ret }]);
    expect(o.icount).toBe(14); // int retired when its handler was entered, then hlt
    expect(o.cpl).toBe(0);
    expect(o.regs.esp).toBe(KSTACK - 20);
    expect([0, 4, 8, 12, 16].map((off) => word(o.ram, KSTACK - 20 + off))).toEqual([ret, 0x3b, 0x2, USTACK, 0x43]);
    expect(o.eflags & 0x200).toBe(0);
    expect(o.status).toBe('halted');
  });

  test('int n through a DPL 0 gate from ring 3: #GP(8n+2), saving the int eip', () => {
    const { engine, symbols } = boot(program(toUser(), 'site:\n  int 0x81', { 13: gate('handler') }));
    const o = engine.run([], 1000);
    const site = symbols.get('site')!;
    expect(o.trace).toEqual([{ icount: 12, kind: 'exception', vector: 13, errorCode: 8 * 0x81 + 2, eip: site }]);
    expect(o.icount).toBe(13); // the int did not retire
    expect(word(o.ram, KSTACK - 24)).toBe(8 * 0x81 + 2); // error code on top of the frame
  });

  test.each([
    ['hlt', 'hlt'],
    ['cli with IOPL 0', 'cli'],
    ['out with IOPL 0', 'out 0xE9, eax'],
    ['mov cr3', 'mov cr3, eax'],
    ['lidt', 'lidt [0]'],
    ['invlpg', 'invlpg [0]'],
  ])('%s in ring 3 is #GP(0)', (_name, insn) => {
    const { engine, symbols } = boot(program(toUser(), `site:\n  ${insn}`, { 13: gate('handler') }));
    const o = engine.run([], 1000);
    expect(o.trace).toEqual([{ icount: 12, kind: 'exception', vector: 13, errorCode: 0, eip: symbols.get('site') }]);
  });

  test('ring 3: popf cannot change IF or IOPL and does not fault; pushf, mov a cs, str, sidt work', () => {
    const o = boot(
      program(
        toUser(),
        `
  push 0x3ac3
  popf
  pushf
  pop ebx
  mov ecx, cs
  str edx
  sidt [${USTACK}]
  int 0x80`,
        { 0x80: gate('handler', 0xee) },
      ),
    ).engine.run([], 1000);
    expect(o.regs.ebx).toBe(0x8c3); // CF ZF SF OF taken, IF and IOPL not
    expect(o.regs.ecx).toBe(0x3b);
    expect(o.regs.edx).toBe(0x3800);
    expect(word(o.ram, USTACK) & 0xffff).toBe(256 * 8 - 1);
  });

  test('ring 3 with IOPL 3: cli/sti/out allowed; popf changes IF but not IOPL', () => {
    const o = boot(
      program(
        toUser(0x3002),
        `
  mov eax, 'u'
  out 0xE9, eax
  sti
  cli
  push 0x0202
  popf
  pushf
  pop ebx
  int 0x80`,
        { 0x80: gate('handler', 0xef) }, // trap gate: IF stays as it was
      ),
    ).engine.run([], 1000);
    expect(o.console).toBe('u');
    expect(o.regs.ebx).toBe(0x3202);
    expect(o.eflags).toBe(0x3202);
  });

  test('iret checks CS against its RPL: #GP(selector & 0xFFFC)', () => {
    const { engine, symbols } = boot(
      program(
        `
  lidt [idtr]
  mov esp, ${KSTACK}
  push 0x2
  push 0x3A
  push user
site:
  iret`,
        '  hlt',
        { 13: gate('handler') },
      ),
    );
    const o = engine.run([], 1000);
    expect(o.trace).toEqual([{ icount: 5, kind: 'exception', vector: 13, errorCode: 0x38, eip: symbols.get('site') }]);
    expect(o.regs.esp).toBe(KSTACK - 12 - 16); // nothing popped; a ring-0 frame pushed
  });
});

describe('escalation (DESIGN §3.7)', () => {
  test('no IDT: #UD → #GP → #DF → shutdown, one trace entry', () => {
    const { engine } = boot('  ud2');
    expect(engine.step()).toBe('shutdown');
    const o = engine.observe();
    expect(o.status).toBe('shutdown');
    expect(o.trace).toEqual([{ icount: 0, kind: 'shutdown', chain: [6, 13, 8, 13] }]); // the #GP's own #GP made the #DF
    expect(engine.step()).toBe('shutdown');
  });

  test('#GP whose gate has a bad type → #DF (error code 0, eip of the faulting instruction)', () => {
    const { engine, symbols } = boot(program(toUser(), 'site:\n  hlt', { 13: '.dd (0x08 << 16) | handler, 0x8c00', 8: gate('handler') }));
    const o = engine.run([], 1000);
    expect(o.trace).toEqual([{ icount: 12, kind: 'exception', vector: 8, errorCode: 0, eip: symbols.get('site') }]);
    expect(word(o.ram, KSTACK - 24)).toBe(0);
    expect(word(o.ram, KSTACK - 4)).toBe(0x43); // ring switch happened for the #DF
  });

  test('#PF whose gate is not present → #NP(8·14+3) → #DF', () => {
    const { engine } = boot(
      program(`  lidt [idtr]\n  mov esp, ${KSTACK}\n${PAGING_ON}\nsite:\n  mov eax, [0x400000]`, '', {
        14: '.dd (0x08 << 16) | handler, 0x0e00',
        8: gate('handler'),
      }),
    );
    const o = engine.run([], 10_000);
    expect(o.trace).toEqual([{ icount: o.icount - 1, kind: 'exception', vector: 8, errorCode: 0, eip: expect.any(Number) as number }]);
    expect(o.cr2).toBe(0x400000);
  });

  test('software int whose gate is not present → #NP(8n+2) without EXT, saving the int eip', () => {
    const { engine, symbols } = boot(
      program(`  lidt [idtr]\n  mov esp, ${KSTACK}\nsite:\n  int 0x81`, '', {
        0x81: '.dd (0x08 << 16) | handler, 0x6e00',
        11: gate('handler'),
      }),
    );
    const o = engine.run([], 1000);
    expect(o.trace).toEqual([{ icount: 2, kind: 'exception', vector: 11, errorCode: 8 * 0x81 + 2, eip: symbols.get('site') }]);
  });

  test('contributory then #PF delivers the #PF (gate 13 on an unmapped page)', () => {
    // IDT based so that gate 13 ends page 3 and gate 14 starts page 4; page 3 unmapped.
    const base = 0x4000 - 8 * 14;
    const { engine, symbols } = boot(`
  mov esp, ${KSTACK}
${PAGING_ON}
  lidt [myidtr]
  mov edx, 0
  mov [${PT + 4 * 3}], edx
  mov eax, 0
site:
  mov cr0, eax
pf:
  hlt
myidtr: .db 0xff, 0x00
  .dd ${base}
.org 0x4000
  .dd (0x08 << 16) | pf, 0x8e00
`);
    const o = engine.run([], 10_000);
    expect(o.trace).toEqual([
      { icount: o.icount - 1, kind: 'exception', vector: 14, errorCode: 0, cr2: base + 8 * 13, eip: symbols.get('site') },
    ]);
  });
});

describe('external interrupts and the schedule (DESIGN §3.7, §3.8, §3.10.6–9)', () => {
  const irqProgram = (body: string): string => `
  lidt [idtr]
  mov esp, ${KSTACK}
${body}
tick:
  mov eax, 'I'
  out 0xE9, eax
  iret
unexpected:
  hlt
${idt({ 32: gate('tick'), 33: gate('tick'), 40: gate('tick') })}
`;
  const irq = (at: number, vector = 32): HostEvent => ({ at, kind: 'irq', vector });

  test('the STI shadow blocks exactly one boundary', () => {
    const { engine, symbols } = boot(irqProgram('  sti\n  nop\nafter_nop:\n  hlt'));
    // The event fires at the boundary right after sti (icount 3): blocked; nop runs.
    const o = engine.run([irq(3)], 1000);
    expect(o.trace).toEqual([{ icount: 4, kind: 'interrupt', vector: 32, eip: symbols.get('after_nop') }]);
  });

  test('popf setting IF creates no shadow', () => {
    const { engine, symbols } = boot(irqProgram('  push 0x202\n  popf\nnext:\n  nop\n  hlt'));
    const o = engine.run([irq(4)], 1000);
    expect(o.trace[0]).toEqual({ icount: 4, kind: 'interrupt', vector: 32, eip: symbols.get('next') });
  });

  test('halted: time jumps to the next event, the interrupt wakes the CPU, then the run ends halted', () => {
    const { engine, symbols } = boot(irqProgram('  sti\n  hlt\nwoke:\n  hlt'));
    const o = engine.run([irq(1000)], 1000);
    expect(o.trace).toEqual([{ icount: 4, kind: 'interrupt', vector: 32, eip: symbols.get('woke') }]);
    expect(o.console).toBe('I');
    expect(o.status).toBe('halted');
    expect(o.icount).toBe(8);
  });

  test('IF = 0: the vector stays pending and the run ends halted', () => {
    const o = boot(irqProgram('  hlt')).engine.run([irq(0, 40), irq(0, 33)], 1000);
    expect(o.pending).toEqual([33, 40]);
    expect(o.status).toBe('halted');
    expect(o.trace).toEqual([]);
  });

  test('lowest vector first; iret re-enables and the next is taken at once', () => {
    const o = boot(irqProgram('  sti\n  nop\n  nop\n  hlt')).engine.run([irq(0, 40), irq(0, 33)], 1000);
    expect(o.trace.map((t) => (t.kind === 'interrupt' ? t.vector : -1))).toEqual([33, 40]);
    expect(o.console).toBe('II');
    expect(o.pending).toEqual([]);
  });

  test('a delivery fault consumes the interrupt and saves its return eip, with EXT', () => {
    const { engine, symbols } = boot(`
  lidt [myidtr]
  mov esp, ${KSTACK}
  sti
  nop
next:
  hlt
gp:
  hlt
myidtr: .db ${(8 * 33 - 1) & 0xff}, ${(8 * 33 - 1) >> 8}
  .dd ${0x3000}
.org ${0x3000 + 8 * 13}
  .dd (0x08 << 16) | gp, 0x8e00
.org ${0x3000 + 8 * 32}
  .dd (0x10 << 16) | gp, 0x8e00
`);
    const o = engine.run([irq(4)], 1000);
    expect(o.trace).toEqual([{ icount: 4, kind: 'exception', vector: 13, errorCode: 8 * 32 + 3, eip: symbols.get('next') }]);
    expect(o.pending).toEqual([]);
  });

  test('budget: the run stops after maxSteps steps with status running', () => {
    const o = boot('loop:\n  jmp loop').engine.run([], 1234);
    expect(o.status).toBe('running');
    expect(o.icount).toBe(1234);
  });

  test('events need not be sorted; step() reports each kind of step', () => {
    const { engine } = boot(irqProgram('  sti\n  nop\n  nop\n  hlt'));
    // lidt, mov esp, then irq 33 fires at icount 2 (IF still 0), then sti: budget spent.
    const o = engine.run([irq(50), irq(2, 33)], 3);
    expect(o.icount).toBe(3);
    expect(o.pending).toEqual([33]);
    expect(engine.step()).toBe('retired'); // the STI shadow holds 33 back for one nop
    expect(engine.step()).toBe('delivered');
    expect(engine.observe().pending).toEqual([]);
  });

  test('step outcomes', () => {
    const { engine } = boot(irqProgram('  sti\n  hlt'));
    expect(engine.step()).toBe('retired'); // lidt
    expect(engine.step()).toBe('retired'); // mov esp
    expect(engine.step()).toBe('retired'); // sti
    expect(engine.step()).toBe('retired'); // hlt
    expect(engine.step()).toBe('halted');
    engine.fire(irq(0));
    expect(engine.step()).toBe('delivered');
    expect(engine.status()).toBe('running');
  });
});
