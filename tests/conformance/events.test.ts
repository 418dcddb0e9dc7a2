// DESIGN §3.7 events and §3.10.2–8: external interrupts, the STI shadow, hlt, gate checks
// in the order of §3.10.3 with EXT, trap vs interrupt gates, ring switches, fault
// classes → #DF → shutdown, saved eip and icount. BODY is the address of the first
// instruction after the BOOT ones; instruction i of the body is at BODY + 8*i.
import { describe, expect, test } from 'vitest';
import {
  BODY,
  BOOT,
  DF,
  ESP0,
  FIXED,
  GP,
  IF,
  KSTACK,
  NP,
  TO_USER_INSNS,
  UD,
  USTACK,
  kernel,
  run,
  toUser,
  type GateSpec,
} from './harness.ts';

const irq = (at: number, vector: number) => ({ at, kind: 'irq' as const, vector });
const intr = (icount: number, vector: number, eip: number) => ({ icount, kind: 'interrupt', vector, eip });
const exc = (icount: number, vector: number, eip: number, errorCode?: number) =>
  errorCode === undefined ? { icount, kind: 'exception', vector, eip } : { icount, kind: 'exception', vector, errorCode, eip };

describe('§3.7 external interrupts', () => {
  test('delivered at the boundary where the event fired, IF = 1', () => {
    const r = run(kernel('    sti\n    nop\n    nop\n    nop\n    nop\n    hlt'), { events: [irq(BOOT + 3, 32)] });
    // at BOOT+3: sti and two nops retired; the next instruction (return eip) is BODY + 24
    expect(r.trace).toEqual([intr(BOOT + 3, 32, BODY + 24)]); // no error code (§3.10.5)
    expect(r.pending).toEqual([]);
    expect(r.regs.esp).toBe(KSTACK - 12);
    expect(r.r32(KSTACK - 4)).toBe(FIXED | IF); // eflags as before delivery
    expect(r.r32(KSTACK - 12)).toBe(BODY + 24);
    expect(r.eflags).toBe(FIXED); // interrupt gate clears IF
    expect(r.icount).toBe(BOOT + 4); // + khang's hlt
  });

  test('IF = 0: the vector stays pending; a halted CPU with IF = 0 stays halted', () => {
    const r = run(kernel('    nop\n    nop\n    hlt'), { events: [irq(BOOT + 1, 32)] });
    expect(r.status).toBe('halted');
    expect(r.trace).toEqual([]);
    expect(r.pending).toEqual([32]); // §3.10.9
    expect(r.icount).toBe(BOOT + 3);
  });

  test('lowest vector first; iret re-enabling IF delivers the next at once (no shadow)', () => {
    const r = run(kernel('    sti\n    nop\n    nop\n    hlt', { gates: { 33: 'h', 40: 'h' }, extra: '.org 0x9000\nh:  iret' }), {
      events: [irq(BOOT, 40), irq(BOOT, 33)],
    });
    // BOOT: both pending (IF = 0). BOOT+1: after sti, shadow. BOOT+2: 33 (return BODY+16).
    // Its iret sets IF 0→1 (no shadow, §3.10.6) → at BOOT+3, 40 with the same return eip.
    expect(r.trace).toEqual([intr(BOOT + 2, 33, BODY + 16), intr(BOOT + 3, 40, BODY + 16)]);
    expect(r.pending).toEqual([]);
    expect(r.status).toBe('halted');
    expect(r.icount).toBe(BOOT + 6); // sti, nop, iret, iret, nop, hlt
  });

  test('an interrupt gate clears IF, a trap gate keeps it', () => {
    const src = (type: number) =>
      kernel('    sti\n    nop\n    nop', {
        gates: { 32: { handler: 'h', type } },
        extra: '.org 0x9000\nh:  pushf\n    pop ebx\n    cli\n    hlt',
      });
    expect(run(src(0xe), { events: [irq(BOOT + 2, 32)] }).regs.ebx).toBe(FIXED);
    expect(run(src(0xf), { events: [irq(BOOT + 2, 32)] }).regs.ebx).toBe(FIXED | IF);
  });

  test('from ring 3: SS, esp, eflags, CS, eip on the ESP0 stack, cpl 0', () => {
    const r = run(kernel(toUser('user', { eflags: 0x202 }), { extra: '.org 0x9000\nuser: nop\n    nop\n    nop' }), {
      events: [irq(BOOT + TO_USER_INSNS + 2, 0x41)],
    });
    expect(r.trace).toEqual([intr(BOOT + TO_USER_INSNS + 2, 0x41, 0x9010)]); // gate DPL 0 is no obstacle (DPL checked for int n only)
    expect(r.r32(ESP0 - 4)).toBe(0x43);
    expect(r.r32(ESP0 - 8)).toBe(USTACK);
    expect(r.r32(ESP0 - 12)).toBe(0x202);
    expect(r.r32(ESP0 - 16)).toBe(0x3b);
    expect(r.r32(ESP0 - 20)).toBe(0x9010);
    expect(r.regs.esp).toBe(ESP0 - 20);
    expect(r.cpl).toBe(0);
  });
});

describe('§3.10.6 STI shadow', () => {
  test('sti 0→1 blocks the next boundary only', () => {
    const r = run(kernel('    sti\n    nop\n    nop\n    hlt'), { events: [irq(BOOT, 32)] });
    // pending since BOOT; not at BOOT+1 (shadow), delivered at BOOT+2 with return BODY+16
    expect(r.trace).toEqual([intr(BOOT + 2, 32, BODY + 16)]);
  });

  test('sti with IF already 1 makes no shadow', () => {
    const r = run(kernel('    sti\n    nop\n    sti\n    nop\n    nop\n    hlt'), { events: [irq(BOOT + 3, 32)] });
    expect(r.trace).toEqual([intr(BOOT + 3, 32, BODY + 24)]); // right after the second sti
  });

  test('popf setting IF makes no shadow', () => {
    const r = run(kernel('    push 0x202\n    popf\n    nop\n    hlt'), { events: [irq(BOOT, 32)] });
    expect(r.trace).toEqual([intr(BOOT + 2, 32, BODY + 16)]); // right after popf
  });

  test('the shadow blocks interrupts, not exceptions', () => {
    const r = run(kernel('    sti\n    ud2'), { events: [irq(BOOT, 32)] });
    expect(r.trace).toEqual([exc(BOOT + 1, UD, BODY + 8)]);
    expect(r.pending).toEqual([32]); // #UD's interrupt gate cleared IF
  });
});

describe('§3.7 hlt', () => {
  test('hlt retires, halts, and wakes on delivery; time jumps to the next event', () => {
    const r = run(
      kernel('    sti\n    hlt\n    mov eax, 1\n    hlt', { gates: { 32: 'h' }, extra: '.org 0x9000\nh:  mov ebx, 7\n    iret' }),
      {
        events: [irq(1000, 32)],
      },
    );
    expect(r.trace).toEqual([intr(BOOT + 2, 32, BODY + 16)]); // §3.10.9: fired while halted; return after the hlt
    expect([r.regs.eax, r.regs.ebx]).toEqual([1, 7]);
    expect(r.icount).toBe(BOOT + 6);
    expect(r.status).toBe('halted');
  });

  test('cli; hlt with events: all vectors stay pending, run ends halted', () => {
    const r = run(kernel('    cli\n    hlt'), { events: [irq(BOOT + 50, 35), irq(BOOT + 60, 34)] });
    expect(r.status).toBe('halted');
    expect(r.pending).toEqual([34, 35]); // ascending (§3.10.14)
    expect(r.icount).toBe(BOOT + 2);
    expect(r.trace).toEqual([]);
  });
});

describe('§3.10.3 gate checks for external interrupts and exceptions (EXT = 1)', () => {
  const deliver = (gates: Record<number, GateSpec | string>, o: { idtLimit?: number } = {}) =>
    run(kernel('    sti\n    nop\n    nop\n    hlt', { gates, ...o }), { events: [irq(BOOT + 2, 0x40)] });
  const EC = 8 * 0x40 + 2 + 1; // 0x203

  test('gate beyond the IDT limit → #GP(8v+3); the interrupt is gone', () => {
    const r = deliver({}, { idtLimit: 0x1ff });
    expect(r.trace).toEqual([exc(BOOT + 2, GP, BODY + 16, EC)]); // §3.10.4: the eip the interrupt would have saved
    expect(r.pending).toEqual([]); // §3.10.7
    expect(r.r32(KSTACK - 16)).toBe(EC);
  });

  test('limit edge: 8v+7 = limit is inside', () => {
    const r = deliver({}, { idtLimit: 8 * 0x40 + 7 });
    expect(r.trace).toEqual([intr(BOOT + 2, 0x40, BODY + 16)]);
  });

  test.each([0x0, 0x5, 0x6, 0x7, 0xc, 0xd])('type %i → #GP(8v+3)', (type) => {
    expect(deliver({ 0x40: { type } }).trace).toEqual([exc(BOOT + 2, GP, BODY + 16, EC)]);
  });

  test('byte5 & 0x1F must be 0x0E/0x0F: the S bit (0x10) makes it bad', () => {
    expect(deliver({ 0x40: { byte5: 0x9e } }).trace).toEqual([exc(BOOT + 2, GP, BODY + 16, EC)]);
  });

  test('byte 4 is ignored; DPL does not matter for external interrupts', () => {
    expect(deliver({ 0x40: { byte4: 0xff } }).trace).toEqual([intr(BOOT + 2, 0x40, BODY + 16)]);
    expect(deliver({ 0x40: { dpl: 3 } }).trace).toEqual([intr(BOOT + 2, 0x40, BODY + 16)]);
  });

  test('P = 0 → #NP(8v+3)', () => {
    expect(deliver({ 0x40: { present: false } }).trace).toEqual([exc(BOOT + 2, NP, BODY + 16, EC)]);
  });

  test('selector ≠ 0x08 → #GP(8v+3)', () => {
    expect(deliver({ 0x40: { selector: 0x10 } }).trace).toEqual([exc(BOOT + 2, GP, BODY + 16, EC)]);
    expect(deliver({ 0x40: { selector: 0x0b } }).trace).toEqual([exc(BOOT + 2, GP, BODY + 16, EC)]);
  });

  test('order: type before P, P before selector', () => {
    expect(deliver({ 0x40: { type: 0x6, present: false } }).trace).toEqual([exc(BOOT + 2, GP, BODY + 16, EC)]);
    expect(deliver({ 0x40: { present: false, selector: 0 } }).trace).toEqual([exc(BOOT + 2, NP, BODY + 16, EC)]);
  });

  test('exceptions use EXT = 1 too: #UD with a not-present gate → #NP(8*6+3)', () => {
    const r = run(kernel('f:  ud2', { gates: { [UD]: { present: false } } }));
    expect(r.trace).toEqual([exc(BOOT, NP, r.sym('f'), 0x33)]); // benign then contributory → deliver the new fault
  });

  test('exceptions ignore gate DPL (#UD at cpl 3 through a DPL 0 gate)', () => {
    const r = run(kernel(toUser('user'), { extra: '.org 0x9000\nuser: ud2' }));
    expect(r.trace).toEqual([exc(BOOT + TO_USER_INSNS, UD, 0x9000)]);
  });
});

describe('§3.10.3 gate checks for int n (EXT = 0)', () => {
  const soft = (gates: Record<number, GateSpec | string>, o: { idtLimit?: number; cpl?: number } = {}) => {
    const body = o.cpl ? toUser('user', { cpl: o.cpl }) : '    jmp user';
    return run(kernel(body, { gates, idtLimit: o.idtLimit, extra: '.org 0x9000\nuser: int 0x40' }));
  };
  const icount = (cpl?: number) => BOOT + (cpl ? TO_USER_INSNS : 1);
  const EC = 8 * 0x40 + 2; // 0x202

  test('limit → #GP(8n+2)', () => {
    expect(soft({}, { idtLimit: 0x1ff }).trace).toEqual([exc(icount(), GP, 0x9000, EC)]); // §3.10.4: eip of the int
  });
  test('type → #GP(8n+2)', () => {
    expect(soft({ 0x40: { type: 0xc } }).trace).toEqual([exc(icount(), GP, 0x9000, EC)]);
  });
  test('P = 0 → #NP(8n+2)', () => {
    expect(soft({ 0x40: { present: false } }).trace).toEqual([exc(icount(), NP, 0x9000, EC)]);
  });
  test('selector → #GP(8n+2)', () => {
    expect(soft({ 0x40: { selector: 0x18 } }).trace).toEqual([exc(icount(), GP, 0x9000, EC)]);
  });
  test('order: limit before everything; type before DPL; DPL before P; P before selector', () => {
    expect(soft({ 0x40: { type: 0xc, present: false } }, { idtLimit: 0x1ff }).trace).toEqual([exc(icount(), GP, 0x9000, EC)]);
    expect(soft({ 0x40: { type: 0xc, dpl: 0 } }, { cpl: 3 }).trace).toEqual([exc(icount(3), GP, 0x9000, EC)]);
    expect(soft({ 0x40: { dpl: 0, present: false } }, { cpl: 3 }).trace).toEqual([exc(icount(3), GP, 0x9000, EC)]); // DPL check wins over P
    expect(soft({ 0x40: { dpl: 3, present: false } }, { cpl: 3 }).trace).toEqual([exc(icount(3), NP, 0x9000, EC)]);
    expect(soft({ 0x40: { dpl: 3, present: false, selector: 0 } }, { cpl: 3 }).trace).toEqual([exc(icount(3), NP, 0x9000, EC)]);
  });

  test('int 8 whose gate is not present → #NP(0x42), not #DF (int is benign)', () => {
    const r = run(kernel('f:  int 8', { gates: { [DF]: { present: false } } }));
    expect(r.trace).toEqual([exc(BOOT, NP, r.sym('f'), 8 * 8 + 2)]);
  });
});

describe('§3.7 fault classes, #DF and shutdown', () => {
  test("contributory then contributory → #DF(0) with the first event's eip", () => {
    // hlt at cpl 3 → #GP(0); the #GP gate is not present → #NP(8*13+3) → #DF
    const r = run(kernel(toUser('user'), { gates: { [GP]: { present: false } }, extra: '.org 0x9000\nuser: nop\n    hlt' }));
    expect(r.trace).toEqual([exc(BOOT + TO_USER_INSNS + 1, DF, 0x9008, 0)]);
    expect(r.r32(ESP0 - 24)).toBe(0); // §3.7: #DF pushes error code 0
    expect(r.r32(ESP0 - 20)).toBe(0x9008);
    expect(r.r32(ESP0 - 4)).toBe(0x43); // ring switch frame
  });

  test('external interrupt → #NP → (bad #NP gate) #GP → #DF, eip the interrupt would have saved', () => {
    const r = run(kernel('    sti\n    nop\n    nop\n    hlt', { gates: { 0x30: { present: false }, [NP]: { type: 0 } } }), {
      events: [irq(BOOT + 2, 0x30)],
    });
    expect(r.trace).toEqual([exc(BOOT + 2, DF, BODY + 16, 0)]); // §3.10.4
    expect(r.pending).toEqual([]);
  });

  test('benign then contributory: #UD with a bad gate → #GP(8*6+3) delivered', () => {
    const r = run(kernel('f:  ud2', { gates: { [UD]: { type: 0 } } }));
    expect(r.trace).toEqual([exc(BOOT, GP, r.sym('f'), 0x33)]);
  });

  test('any fault while delivering #DF → shutdown', () => {
    // ud2 → #NP(0x33) → #NP's gate bad → #GP(0x5B) → #DF → #DF's gate P = 0 → shutdown
    const r = run(
      kernel('    nop\nf:  ud2\n    nop', { gates: { [UD]: { present: false }, [NP]: { type: 0 }, [DF]: { present: false } } }),
    );
    expect(r.status).toBe('shutdown');
    // Only entered handlers + shutdown; the chain: the attempts, then the fault that hit #DF.
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'shutdown', chain: [UD, NP, DF, NP] }]);
  });

  test('triple fault at reset: idtr limit 0 makes every delivery fail', () => {
    const r = run('.org 0x1000\n    nop\n    ud2\n    nop', { maxSteps: 100 });
    expect(r.status).toBe('shutdown');
    expect(r.trace).toEqual([{ icount: 1, kind: 'shutdown', chain: [UD, GP, DF, GP] }]);
    expect(r.icount).toBe(1);
  });
});

describe('§3.10.8 icount', () => {
  test('a faulting instruction does not retire', () => {
    const r = run(kernel('    nop\n    ud2'), { maxSteps: 1000 });
    expect(r.trace).toEqual([exc(BOOT + 1, UD, BODY + 8)]);
    expect(r.icount).toBe(BOOT + 2); // nop + khang's hlt
  });

  test('int n retires when its handler is entered', () => {
    const r = run(kernel('    int 0x40\n    hlt', { gates: { 0x40: 'h' }, extra: '.org 0x9000\nh:  iret' }));
    expect(r.icount).toBe(BOOT + 3); // int, iret, hlt
    expect(r.eip).toBe(BODY + 16);
  });

  test('int n whose delivery faults does not retire', () => {
    const r = run(kernel('    int 0x40', { gates: { 0x40: { present: false } } }));
    expect(r.icount).toBe(BOOT + 1); // only khang's hlt
  });

  test('a fault and its delivery are one step', () => {
    const r = run(kernel('    ud2'), { maxSteps: BOOT + 1 });
    expect(r.status).toBe('running');
    expect(r.trace).toEqual([exc(BOOT, UD, BODY)]);
    expect(r.eip).toBe(r.sym('khang')); // handler entered, its hlt not yet run
    expect(r.icount).toBe(BOOT);
  });

  test('an interrupt delivery is one step', () => {
    const r = run(kernel('    sti\nl:  jmp l', { gates: { 32: 'h' }, extra: '.org 0x9000\nh:  iret' }), {
      maxSteps: 50,
      events: [irq(BOOT + 5, 32)],
    });
    expect(r.status).toBe('running');
    expect(r.icount).toBe(49); // 50 steps = 49 retired + 1 delivered
    expect(r.trace).toEqual([intr(BOOT + 5, 32, BODY + 8)]);
  });

  test('iret to ring 3 setting IF delivers a pending interrupt at once, from ring 3', () => {
    const r = run(kernel(toUser('user', { eflags: 0x202 }), { extra: '.org 0x9000\nuser: nop\n    nop' }), { events: [irq(BOOT, 0x50)] });
    // no shadow after iret (§3.10.6): delivered at the boundary right after it, return eip = user
    expect(r.trace).toEqual([intr(BOOT + TO_USER_INSNS, 0x50, 0x9000)]);
    expect(r.r32(ESP0 - 16)).toBe(0x3b);
    expect(r.r32(ESP0 - 8)).toBe(USTACK);
  });
});
