// DESIGN §3.3 — encoding and every #UD rule; §3.10.10. Raw encodings are built with
// `.db` so the assembler's own checks are not in the way. #UD is vector 6, no error code
// (§3.10.5), saved eip = the faulting instruction (§3.10.4).
import { describe, expect, test } from 'vitest';
import { BOOT, FIXED, GP, KSTACK, TO_USER_INSNS, UD, csOf, kernel, raw, run, toUser } from './harness.ts';

/** Run `raw` at label f after BOOT; expect exactly one #UD at f and no effect. */
function expectUD(insn: string, setup = '', setupInsns = 0): void {
  const r = run(kernel(`${setup}\nf:  ${insn}`));
  expect(r.trace).toEqual([{ icount: BOOT + setupInsns, kind: 'exception', vector: UD, eip: r.sym('f') }]);
}

describe('§3.3 #UD rules', () => {
  test('#UD frame: eflags, CS, eip pushed; no error code; handler entered with IF = 0', () => {
    const r = run(kernel(`f:  ${raw(0x00)}`));
    expect(r.trace).toEqual([{ icount: BOOT, kind: 'exception', vector: UD, eip: r.sym('f') }]);
    expect(r.regs.esp).toBe(KSTACK - 12); // 3 pushes of 4 bytes, no error code (§3.10.5)
    expect(r.r32(KSTACK - 4)).toBe(FIXED); // SDM 6.12.1: eflags pushed first
    expect(r.r32(KSTACK - 8)).toBe(csOf(0)); // CS = 0x08, zero-extended (§3.10.11)
    expect(r.r32(KSTACK - 12)).toBe(r.sym('f')); // eip of the faulting instruction
    expect(r.eip).toBe(r.sym('khang') + 8); // handler's hlt retired
    expect(r.icount).toBe(BOOT + 1); // faulting insn does not retire (§3.10.8), hlt does
    expect(r.cpl).toBe(0);
  });

  test('opcode 00 (zeroed memory) → #UD', () => expectUD(raw(0x00)));
  test('ud2 (03) → #UD', () => expectUD('ud2'));
  test.each([0x04, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x48, 0x4f, 0x68, 0x78, 0x80, 0xff])(
    'undefined opcode %i → #UD',
    (op) => expectUD(raw(op)), // §3.3: not in the opcode table
  );
  test('jcc 5A and 5B (p, np) → #UD', () => {
    expectUD(raw(0x5a, 0, 0, 0, 0x1000)); // §3.3: 5A, 5B #UD
    expectUD(raw(0x5b, 0, 0, 0, 0x1000));
  });
  test.each([0x08, 0x10, 0x20, 0x40, 0x80])('A = %i (bits 3–7) → #UD', (A) => {
    expectUD(raw(0x10, A, 0)); // mov a, b with A bits 3–7 set (§3.3)
  });
  test.each([0x10, 0x20, 0x40, 0x80])('B = %i (bits 4–7) → #UD', (B) => {
    expectUD(raw(0x10, 0, B)); // §3.3: B bits 4–7 must be 0
  });
  test('byte 3 nonzero → #UD', () => {
    expectUD(raw(0x01, 0, 0, 1)); // nop with byte 3 = 1
    expectUD(raw(0x11, 0, 0, 0x80, 5)); // mov eax, 5 with byte 3 = 0x80
  });
  test('unused fields nonzero → #UD', () => {
    expectUD(raw(0x01, 1)); // nop with a = 1
    expectUD(raw(0x01, 0, 1)); // nop with b = 1
    expectUD(raw(0x01, 0, 0, 0, 1)); // nop with imm = 1
    expectUD(raw(0x44, 0, 0, 0, 4)); // ret with imm
    expectUD(raw(0x10, 0, 3, 0, 1)); // mov eax, ebx with imm
    expectUD(raw(0x11, 0, 1, 0, 5)); // mov eax, imm with b = 1
    expectUD(raw(0x35, 0, 2)); // inc eax with b = 2
    expectUD(raw(0x40, 1, 0, 0, 0x1000)); // jmp imm with a = 1
    expectUD(raw(0x45, 0, 1)); // push eax with b = 1
    expectUD(raw(0x46, 1, 0, 0, 5)); // push imm with a = 1
    expectUD(raw(0x64, 0, 1, 0, 0x20)); // int with b = 1
    expectUD(raw(0x72, 1, 0x08, 0, 0x6f80)); // lidt [m] with a = 1
    expectUD(raw(0x77, 0, 1)); // mov a, cs with b = 1
    expectUD(raw(0x74, 0, 1)); // ltr eax with b = 1
  });
  test('a faulting #UD instruction has no effect', () => {
    const r = run(kernel(`    mov eax, 7\nf:  ${raw(0x11, 0, 0, 1, 5)}`)); // mov eax, 5 with byte 3 = 1
    expect(r.regs.eax).toBe(7); // §3.4: a faulting instruction has no effect
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: UD, eip: r.sym('f') }]);
  });
  test('NOBASE on a non-memory opcode → #UD', () => {
    expectUD(raw(0x10, 0, 0x08)); // mov eax, eax with NOBASE
    expectUD(raw(0x28, 0, 0x08, 0, 1)); // add eax, 1 with NOBASE
    expectUD(raw(0x41, 0, 0x08)); // jmp eax with NOBASE (b unused)
    expectUD(raw(0x70, 0, 0x08)); // mov cr0, eax with NOBASE
  });
  test('NOBASE with b ≠ 0 → #UD (§3.10.10)', () => {
    expectUD(raw(0x12, 0, 0x09, 0, 0x5000)); // mov eax, [m] NOBASE b = 1
    expectUD(raw(0x13, 0, 0x0f, 0, 0x5000)); // mov [m], eax NOBASE b = 7
    expectUD(raw(0x16, 0, 0x0a, 0, 0x5000)); // lea NOBASE b = 2
  });
  test('NOBASE with b = 0 is a valid absolute operand', () => {
    const r = run(kernel(`    ${raw(0x12, 0, 0x08, 0, 0x5000)}\n    hlt`, { extra: '.org 0x5000\n    .dd 0xA5A5A5A5' }));
    expect(r.trace).toEqual([]);
    expect(r.regs.eax).toBe(0xa5a5a5a5); // §3.3: m = 0 + imm
  });
  test('lea accepts NOBASE (§3.10.10)', () => {
    const r = run(kernel(`    mov eax, 0x77\n    ${raw(0x16, 0, 0x08, 0, 0x1234)}\n    hlt`));
    expect(r.trace).toEqual([]);
    expect(r.regs.eax).toBe(0x1234); // lea a, [imm]
  });
  test('int imm > 255 → #UD; int 255 decodes', () => {
    expectUD(raw(0x64, 0, 0, 0, 256)); // §3.3: int imm > 255
    expectUD(raw(0x64, 0, 0, 0, 0xffffffff));
    const r = run(kernel(`f:  int 255`));
    expect(r.trace).toEqual([{ icount: BOOT, kind: 'software', vector: 255, eip: r.sym('f') + 8 }]); // §3.4: return eip = next
  });
  test('in/out imm > 0xFFFF → #UD; 0xFFFF decodes', () => {
    expectUD(raw(0x66, 0, 0, 0, 0x10000)); // in eax, 0x10000
    expectUD(raw(0x67, 0, 0, 0, 0x10000)); // out 0x10000, eax
    const r = run(kernel(`    in eax, 0xFFFF\n    hlt`));
    expect(r.trace).toEqual([]);
    expect(r.regs.eax).toBe(0xffffffff); // §3.4: other ports read 0xFFFFFFFF
  });
  test('shift imm > 31 → #UD; 31 decodes', () => {
    expectUD(raw(0x30, 0, 0, 0, 32)); // shl eax, 32
    expectUD(raw(0x31, 0, 0, 0, 33)); // shr eax, 33
    expectUD(raw(0x32, 0, 0, 0, 0x100)); // sar eax, 256
    const r = run(kernel(`    mov eax, 1\n    shl eax, 31\n    hlt`));
    expect(r.regs.eax).toBe(0x80000000);
  });
  test.each([1, 5, 6, 7])('mov to/from cr%i → #UD', (n) => {
    expectUD(raw(0x70, 0, n)); // mov crN, eax
    expectUD(raw(0x71, 0, n)); // mov eax, crN
  });
  test('#UD wins over #GP: mov eax, cr1 at cpl 3 is #UD; mov eax, cr0 there is #GP(0)', () => {
    const user = `.org 0x9000\nuser: ${raw(0x71, 0, 1)}\nuser2: mov eax, cr0`;
    const r = run(kernel(toUser('user'), { extra: user }));
    // §3.4 "after decode checks"; §3.4 exceptions first wins: decode #UD before privilege #GP
    expect(r.trace).toEqual([{ icount: BOOT + TO_USER_INSNS, kind: 'exception', vector: UD, eip: 0x9000 }]);
    const r2 = run(kernel(toUser('user2'), { extra: user }));
    expect(r2.trace).toEqual([{ icount: BOOT + TO_USER_INSNS, kind: 'exception', vector: GP, errorCode: 0, eip: 0x9008 }]);
  });
  test('hlt with a nonzero field at cpl 3 is #UD, not #GP', () => {
    const r = run(kernel(toUser('user'), { extra: `.org 0x9000\nuser: ${raw(0x02, 0, 0, 0, 1)}` }));
    expect(r.trace).toEqual([{ icount: BOOT + TO_USER_INSNS, kind: 'exception', vector: UD, eip: 0x9000 }]);
  });
});
