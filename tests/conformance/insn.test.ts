// DESIGN §3.4 — instruction semantics other than ALU flags: stack, pushf/popf, cli/sti,
// in/out, privileged instructions, control registers, lidt/sidt, ltr/str, mov a, cs,
// int n and iret. Paging is off (linear = physical).
import { describe, expect, test } from 'vitest';
import {
  BOOT,
  CF,
  ESP0,
  FIXED,
  GP,
  IDT,
  IF,
  IOPL3,
  KSTACK,
  OF,
  SF,
  TO_USER_INSNS,
  TSS,
  USTACK,
  ZF,
  csOf,
  kernel,
  run,
  ssOf,
  toUser,
  type GateSpec,
} from './harness.ts';

const U = BOOT + TO_USER_INSNS; // icount when the first user instruction starts
const UCODE = 0x9000;

function user(code: string, o: { cpl?: number; eflags?: number; gates?: Record<number, GateSpec | string>; maxSteps?: number } = {}) {
  return run(kernel(toUser('user', o), { gates: o.gates, extra: `.org ${UCODE}\nuser:\n${code}` }), { maxSteps: o.maxSteps });
}

/** The #GP(code) trace entry of the i-th user instruction (0-based). */
const gpAt = (i: number, errorCode = 0) => ({ icount: U + i, kind: 'exception', vector: GP, errorCode, eip: UCODE + 8 * i });

describe('§3.4 stack, call, ret, jumps', () => {
  test('push writes at esp-4 then esp -= 4', () => {
    const r = run(kernel('    mov eax, 0x11223344\n    push eax\n    push 0xCAFEBABE\n    hlt'));
    expect(r.r32(KSTACK - 4)).toBe(0x11223344);
    expect(r.r32(KSTACK - 8)).toBe(0xcafebabe); // push imm (46)
    expect(r.regs.esp).toBe(KSTACK - 8);
  });

  test('push esp pushes the old value', () => {
    const r = run(kernel('    push esp\n    hlt'));
    expect(r.r32(KSTACK - 4)).toBe(KSTACK); // §3.4: `push esp` pushes the old value
    expect(r.regs.esp).toBe(KSTACK - 4);
  });

  test('pop reads [esp] then esp += 4', () => {
    const r = run(kernel('    push 0x55\n    push 0x66\n    pop ebx\n    pop ecx\n    hlt'));
    expect([r.regs.ebx, r.regs.ecx]).toEqual([0x66, 0x55]);
    expect(r.regs.esp).toBe(KSTACK);
  });

  test('pop esp loads the popped value (a = v after esp += 4)', () => {
    const r = run(kernel('    push 0x12340\n    pop esp\n    hlt'));
    expect(r.regs.esp).toBe(0x12340); // §3.4 / SDM POP: esp = value read
  });

  test('push and pop wrap esp mod 2^32 (open bus at the top)', () => {
    const r = run(kernel('    mov esp, 0\n    mov eax, 7\n    push eax\n    mov ecx, esp\n    pop ebx\n    hlt'));
    expect(r.regs.ecx).toBe(0xfffffffc); // esp − 4 mod 2^32
    expect(r.regs.ebx).toBe(0xffffffff); // write to 0xFFFFFFFC dropped, read 0xFF bytes (§3.2)
    expect(r.regs.esp).toBe(0);
  });

  test('call imm pushes eip + 8 and jumps', () => {
    const r = run(kernel('f:  call sub\n    hlt\nsub: hlt'));
    expect(r.r32(KSTACK - 4)).toBe(r.sym('f') + 8); // §3.4: call pushes eip + 8
    expect(r.regs.esp).toBe(KSTACK - 4);
    expect(r.eip).toBe(r.sym('sub') + 8);
  });

  test('call reg and ret', () => {
    const r = run(kernel('    mov eax, sub\n    call eax\n    mov ebx, 1\n    hlt\nsub: mov ecx, 2\n    ret'));
    expect([r.regs.ebx, r.regs.ecx]).toEqual([1, 2]);
    expect(r.regs.esp).toBe(KSTACK);
    expect(r.icount).toBe(BOOT + 6); // mov, call, mov ecx, ret, mov ebx, hlt
  });

  test('jmp reg and jmp imm are absolute', () => {
    const r = run(kernel('    mov edx, t1\n    jmp edx\n    hlt\nt1: jmp t2\n    hlt\nt2: mov eax, 3\n    hlt'));
    expect(r.regs.eax).toBe(3);
    expect(r.icount).toBe(BOOT + 5);
  });

  test('ret pops any eip', () => {
    const r = run(kernel('    push t\n    ret\n    hlt\nt:  mov eax, 9\n    hlt'));
    expect(r.regs.eax).toBe(9);
    expect(r.regs.esp).toBe(KSTACK);
  });
});

describe('§3.4 pushf and popf', () => {
  test('cpl 0: popf may set IF and IOPL', () => {
    const r = run(kernel('    push 0x3202\n    popf\n    pushf\n    pop eax\n    hlt'));
    expect(r.regs.eax).toBe(FIXED | IF | IOPL3); // cpl 0 ≤ IOPL and cpl = 0
  });

  test('cpl 3, IOPL 0: popf changes arithmetic flags only, and does not fault', () => {
    const r = user('    push 0x3AC3\n    popf\n    pushf\n    pop ebx\n    hlt');
    expect(r.regs.ebx).toBe(FIXED | CF | ZF | SF | OF); // IF: 3 > IOPL 0; IOPL: cpl ≠ 0
    expect(r.trace).toEqual([gpAt(4)]); // only the hlt faults (§3.4: no fault when IF cannot change)
    expect(r.r32(ESP0 - 12)).toBe(FIXED | CF | ZF | SF | OF); // eflags in the #GP frame
  });

  test('cpl 3, IOPL 3: popf changes IF but not IOPL', () => {
    const r = user('    push 0x0203\n    popf\n    pushf\n    pop ebx\n    push 0\n    popf\n    pushf\n    pop ecx\n    hlt', {
      eflags: 0x3002,
    });
    expect(r.regs.ebx).toBe(IOPL3 | IF | CF | FIXED); // IF: 3 ≤ 3; IOPL kept (cpl ≠ 0)
    expect(r.regs.ecx).toBe(IOPL3 | FIXED); // IF cleared, IOPL still kept
  });

  test('cpl 1, IOPL 1: IF changes, IOPL does not', () => {
    const r = user('    push 0x3202\n    popf\n    pushf\n    pop ebx\n    hlt', { cpl: 1, eflags: 0x1002 });
    expect(r.regs.ebx).toBe(0x1000 | IF | FIXED); // 1 ≤ 1; IOPL stays 1
    expect(r.trace).toEqual([gpAt(4)]); // hlt at cpl 1 > 0
  });

  test('cpl 2, IOPL 1: neither IF nor IOPL changes', () => {
    const r = user('    push 0x0203\n    popf\n    pushf\n    pop ebx\n    hlt', { cpl: 2, eflags: 0x1002 });
    expect(r.regs.ebx).toBe(0x1000 | CF | FIXED); // IF: 2 > 1
  });

  test('pushf at cpl 3 reads the real IF and IOPL (sensitive, unprivileged)', () => {
    const r = user('    pushf\n    pop ebx\n    hlt', { eflags: 0x1202 });
    expect(r.regs.ebx).toBe(0x1202);
    expect(r.trace).toEqual([gpAt(2)]);
  });
});

describe('§3.4 cli and sti', () => {
  test('cli at cpl 3 > IOPL 0 → #GP(0), IF unchanged', () => {
    const r = user('    cli\n    hlt', { eflags: 0x202 });
    expect(r.trace).toEqual([gpAt(0)]);
    expect(r.r32(ESP0 - 12)).toBe(0x202); // saved eflags: IF still 1 (no effect)
  });

  test('sti at cpl 3 > IOPL 0 → #GP(0)', () => {
    const r = user('    sti\n    hlt');
    expect(r.trace).toEqual([gpAt(0)]);
    expect(r.r32(ESP0 - 12)).toBe(FIXED);
  });

  test('cli at cpl 1 > IOPL 0 → #GP(0)', () => {
    const r = user('    cli', { cpl: 1, eflags: 0x202 });
    expect(r.trace).toEqual([gpAt(0)]);
  });

  test('cpl 3 ≤ IOPL 3: cli and sti work', () => {
    const r = user('    cli\n    pushf\n    pop ebx\n    sti\n    pushf\n    pop ecx\n    hlt', { eflags: 0x3202 });
    expect(r.regs.ebx).toBe(IOPL3 | FIXED);
    expect(r.regs.ecx).toBe(IOPL3 | IF | FIXED);
    expect(r.trace).toEqual([gpAt(6)]); // hlt is privileged regardless of IOPL
  });

  test('cli/sti at cpl 0 with IOPL 0', () => {
    const r = run(kernel('    sti\n    pushf\n    pop ebx\n    cli\n    hlt'));
    expect(r.regs.ebx).toBe(IF | FIXED);
    expect(r.eflags).toBe(FIXED);
  });
});

describe('§3.4 in and out', () => {
  test('out 0xE9 appends the low byte to the console', () => {
    const r = run(
      kernel(
        '    mov eax, 0x41\n    out 0xE9, eax\n    mov ebx, 0x1FF42\n    out 0xE9, ebx\n    mov ecx, 0xFF\n    out 0xE9, ecx\n    mov edx, 0\n    out 0xE9, edx\n    hlt',
      ),
    );
    expect(r.console).toBe('AB\xff\x00'); // §3.10.14: code points are the bytes 0–255
  });

  test('in 0xE9 returns 0xE9; other ports read 0xFFFFFFFF; other outs are dropped', () => {
    const r = run(
      kernel('    in eax, 0xE9\n    in ebx, 0x60\n    in ecx, 0\n    mov edx, 0x41\n    out 0x80, edx\n    out 0xE8, edx\n    hlt'),
    );
    expect(r.regs.eax).toBe(0xe9);
    expect(r.regs.ebx).toBe(0xffffffff);
    expect(r.regs.ecx).toBe(0xffffffff);
    expect(r.console).toBe('');
  });

  test('out at cpl 3 > IOPL → #GP(0), nothing written', () => {
    const r = user('    mov eax, 0x41\n    out 0xE9, eax');
    expect(r.trace).toEqual([gpAt(1)]);
    expect(r.console).toBe('');
  });

  test('in at cpl 3 > IOPL → #GP(0), register unchanged', () => {
    const r = user('    mov eax, 5\n    in eax, 0xE9');
    expect(r.trace).toEqual([gpAt(1)]);
    expect(r.regs.eax).toBe(5);
  });

  test('in/out at cpl 3 with IOPL 3 work', () => {
    const r = user('    in eax, 0xE9\n    out 0xE9, eax\n    hlt', { eflags: 0x3002 });
    expect(r.console).toBe('\xe9');
    expect(r.trace).toEqual([gpAt(2)]);
  });
});

describe('§3.4 privileged instructions: #GP(0) at cpl > 0', () => {
  test.each([
    ['hlt', 'hlt'],
    ['mov cr0, eax', 'mov cr0, eax'],
    ['mov eax, cr0', 'mov eax, cr0'],
    ['mov cr2, eax', 'mov cr2, eax'],
    ['mov eax, cr2', 'mov eax, cr2'],
    ['mov cr3, eax', 'mov cr3, eax'],
    ['mov eax, cr3', 'mov eax, cr3'],
    ['mov cr4, eax', 'mov cr4, eax'],
    ['mov eax, cr4', 'mov eax, cr4'],
    ['lidt', 'lidt [0x6F80]'],
    ['ltr', 'ltr ebx'],
    ['invlpg', 'invlpg [eax]'],
  ])('%s at cpl 3', (_n, insn) => {
    const r = user(`    ${insn}`);
    expect(r.trace).toEqual([gpAt(0)]);
    expect(r.regs.eax).toBe(TSS); // unchanged (toUser left ktss in eax)
    expect(r.idtr).toEqual({ base: IDT, limit: 0x7ff });
    expect(r.tr).toBe(TSS);
  });

  test.each([1, 2])('hlt at cpl %i', (cpl) => {
    const r = user('    hlt', { cpl });
    expect(r.trace).toEqual([gpAt(0)]);
    expect(r.r32(ESP0 - 4)).toBe(ssOf(cpl)); // SS pushed zero-extended (§3.10.11)
    expect(r.r32(ESP0 - 16)).toBe(csOf(cpl));
  });

  test('sidt, str and mov a, cs are not privileged', () => {
    const r = user('    sidt [0x5000]\n    str ebx\n    mov ecx, cs\n    hlt');
    expect(Array.from(r.ram.subarray(0x5000, 0x5006))).toEqual([0xff, 0x07, 0x00, 0x70, 0x00, 0x00]); // limit 0x7FF, base 0x7000
    expect(r.regs.ebx).toBe(TSS);
    expect(r.regs.ecx).toBe(0x3b); // CS = 0x08 + 0x11*3
    expect(r.trace).toEqual([gpAt(3)]);
  });

  test.each([
    [1, 0x19],
    [2, 0x2a],
  ])('mov a, cs at cpl %i', (cpl, cs) => {
    const r = user('    mov ecx, cs\n    hlt', { cpl });
    expect(r.regs.ecx).toBe(cs); // 0x08 + 0x11*cpl
  });
});

describe('§3.4 control registers', () => {
  test('mov cr0 with PE = 0 → #GP(0)', () => {
    const r = run(kernel('    mov eax, 0\nf:  mov cr0, eax'));
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: GP, errorCode: 0, eip: r.sym('f') }]);
    expect(r.cr0).toBe(1);
  });

  test.each([0x3, 0x21, 0x40000001, 0x80010003, 0x20001])('mov cr0, %i (bits outside PE|WP|PG) → #GP(0)', (v) => {
    const r = run(kernel(`    mov eax, ${v}\nf:  mov cr0, eax`));
    expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: GP, errorCode: 0, eip: r.sym('f') }]);
    expect(r.cr0).toBe(1);
  });

  test('mov cr0 with PE|WP is stored and read back', () => {
    const r = run(kernel('    mov eax, 0x10001\n    mov cr0, eax\n    mov ebx, cr0\n    hlt'));
    expect(r.cr0).toBe(0x10001);
    expect(r.regs.ebx).toBe(0x10001);
  });

  test('mov cr4: PSE only', () => {
    const ok = run(kernel('    mov eax, 0x10\n    mov cr4, eax\n    mov ebx, cr4\n    hlt'));
    expect(ok.cr4).toBe(0x10);
    expect(ok.regs.ebx).toBe(0x10);
    for (const v of [0x20, 0x80, 0x1, 0x11]) {
      const r = run(kernel(`    mov eax, ${v}\nf:  mov cr4, eax`));
      expect(r.trace).toEqual([{ icount: BOOT + 1, kind: 'exception', vector: GP, errorCode: 0, eip: r.sym('f') }]);
      expect(r.cr4).toBe(0);
    }
  });

  test('mov cr3 masks the low 12 bits', () => {
    const r = run(kernel('    mov eax, 0x12345FFF\n    mov cr3, eax\n    mov ebx, cr3\n    hlt'));
    expect(r.cr3).toBe(0x12345000); // §3.4: stores a & 0xFFFFF000
    expect(r.regs.ebx).toBe(0x12345000);
  });

  test('mov cr2 stores any value', () => {
    const r = run(kernel('    mov eax, 0xDEADBEEF\n    mov cr2, eax\n    mov ebx, cr2\n    hlt'));
    expect(r.cr2).toBe(0xdeadbeef);
    expect(r.regs.ebx).toBe(0xdeadbeef);
  });
});

describe('§3.4 lidt, sidt, ltr, str', () => {
  test('lidt reads limit u16 then base u32; sidt writes exactly 6 bytes', () => {
    const r = run(
      kernel('    mov esi, 0x5001\n    lidt [esi]\n    sidt [0x5100]\n    hlt', {
        extra:
          '.org 0x5001\n    .db 0xCD, 0xAB, 0x78, 0x56, 0x34, 0x12\n.org 0x5100\n    .db 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE',
      }),
    );
    expect(r.idtr).toEqual({ base: 0x12345678, limit: 0xabcd });
    expect(Array.from(r.ram.subarray(0x5100, 0x5108))).toEqual([0xcd, 0xab, 0x78, 0x56, 0x34, 0x12, 0xee, 0xee]);
  });

  test('ltr and str', () => {
    const r = run(kernel('    mov eax, 0xDEADBEEF\n    ltr eax\n    str ebx\n    hlt'));
    expect(r.tr).toBe(0xdeadbeef); // §3.4: tr = a (a linear address, no check)
    expect(r.regs.ebx).toBe(0xdeadbeef);
  });

  test('invlpg at cpl 0 touches no memory and does nothing', () => {
    const r = run(kernel('    mov eax, 0xFEE00004\n    invlpg [eax]\n    invlpg [0x200000]\n    hlt'));
    expect(r.trace).toEqual([]);
    expect(r.device.counter).toBe(0); // touches no memory (COUNTER would increment)
  });
});

describe('§3.4 int n', () => {
  test('int at cpl 0: software entry, return eip = next instruction, no error code', () => {
    const r = run(kernel('f:  int 0x80\n    hlt', { gates: { 0x80: 'khang' } }));
    expect(r.trace).toEqual([{ icount: BOOT, kind: 'software', vector: 0x80, eip: r.sym('f') + 8 }]);
    expect(r.regs.esp).toBe(KSTACK - 12); // eflags, CS, eip
    expect(r.r32(KSTACK - 12)).toBe(r.sym('f') + 8);
    expect(r.icount).toBe(BOOT + 2); // §3.10.8: int retires when its handler is entered; + khang's hlt
  });

  test.each([8, 13, 14, 11])('int %i pushes no error code (§3.10.5)', (v) => {
    const r = run(kernel('f:  int ' + v));
    expect(r.trace).toEqual([{ icount: BOOT, kind: 'software', vector: v, eip: r.sym('f') + 8 }]);
    expect(r.regs.esp).toBe(KSTACK - 12);
    expect(r.r32(KSTACK - 12)).toBe(r.sym('f') + 8);
  });

  test('int from cpl 3 through a DPL 3 gate switches to the ESP0 stack', () => {
    const r = user('    mov ebx, 1\n    int 0x80', { gates: { 0x80: { dpl: 3 } }, eflags: 0x202 });
    expect(r.trace).toEqual([{ icount: U + 1, kind: 'software', vector: 0x80, eip: UCODE + 16 }]);
    expect(r.cpl).toBe(0);
    expect(r.regs.esp).toBe(ESP0 - 20); // §3.7: SS, esp, eflags, CS, eip
    expect(r.r32(ESP0 - 4)).toBe(0x43); // SS = 0x10 + 0x11*3
    expect(r.r32(ESP0 - 8)).toBe(USTACK);
    expect(r.r32(ESP0 - 12)).toBe(0x202); // eflags before delivery (IF = 1)
    expect(r.r32(ESP0 - 16)).toBe(0x3b);
    expect(r.r32(ESP0 - 20)).toBe(UCODE + 16);
    expect(r.eflags).toBe(FIXED); // interrupt gate clears IF
  });

  test('int from cpl 3 through a DPL 0 gate → #GP(8n+2), saved eip = the int', () => {
    const r = user('    mov ebx, 1\n    int 0x80');
    // §3.4: #GP(8n+2) = 0x402; §3.10.4: saved eip of the int; int does not retire
    expect(r.trace).toEqual([{ icount: U + 1, kind: 'exception', vector: GP, errorCode: 0x402, eip: UCODE + 8 }]);
    expect(r.regs.esp).toBe(ESP0 - 24);
    expect(r.r32(ESP0 - 24)).toBe(0x402);
    expect(r.icount).toBe(U + 2); // mov ebx + khang's hlt; the int did not retire
  });

  test('int from cpl 2 through a DPL 1 gate → #GP; DPL 2 gate is fine', () => {
    const bad = user('    int 0x40', { cpl: 2, gates: { 0x40: { dpl: 1 } } });
    expect(bad.trace).toEqual([gpAt(0, 8 * 0x40 + 2)]);
    const ok = user('    int 0x40', { cpl: 2, gates: { 0x40: { dpl: 2 } } });
    expect(ok.trace).toEqual([{ icount: U, kind: 'software', vector: 0x40, eip: UCODE + 8 }]);
    expect(ok.r32(ESP0 - 4)).toBe(0x32); // SS = 0x10 + 0x11*2
  });
});

describe('§3.4 iret', () => {
  test('same ring: pops eip, CS, eflags only', () => {
    const r = run(kernel('    push 0x8C3\n    push 0x08\n    push t\n    iret\n    hlt\nt:  hlt'));
    expect(r.eip).toBe(r.sym('t') + 8);
    expect(r.regs.esp).toBe(KSTACK); // three words popped, no esp/SS
    expect(r.eflags).toBe(0x8c3);
    expect(r.cpl).toBe(0);
  });

  test('to ring 3: pops esp and SS; eflags applied at the old cpl 0', () => {
    const r = run(kernel(toUser('user', { eflags: 0x3202 }), { extra: `.org ${UCODE}\nuser: jmp user` }), { maxSteps: U + 3 });
    expect(r.status).toBe('running'); // budget reached
    expect(r.cpl).toBe(3);
    expect(r.regs.esp).toBe(USTACK);
    expect(r.eflags).toBe(0x3202); // IOPL 3 taken: the old cpl was 0 (§3.4)
    expect(r.eip).toBe(UCODE);
  });

  test('selectors are the low 16 bits of the popped words (§3.10.11)', () => {
    const r = run(
      kernel('    push 0x12340043\n    push 0x1000\n    push 0x2\n    push 0xFFFF003B\n    push user\n    iret', {
        extra: `.org ${UCODE}\nuser: jmp user`,
      }),
      {
        maxSteps: BOOT + 6 + 1,
      },
    );
    expect(r.trace).toEqual([]);
    expect(r.cpl).toBe(3);
    expect(r.regs.esp).toBe(0x1000);
  });

  test('cpl 3 → cpl 3: IF and IOPL cannot change', () => {
    const r = user('    push 0x3AC3\n    push 0x3B\n    push next\n    iret\nnext: pushf\n    pop ebx\n    hlt');
    expect(r.regs.ebx).toBe(0x8c3); // CF ZF SF OF from the popped word, IF/IOPL kept (cpl 3 > IOPL 0)
    expect(r.r32(ESP0 - 8)).toBe(USTACK); // same-ring iret popped 3 words, pushf/pop net 0: esp at the hlt's #GP
  });

  test('cpl 1 → ring 3: popf rules at cpl 1 (IF may change, IOPL may not)', () => {
    const r = user(
      '    push 0x43\n    push 0x3000\n    push 0x3202\n    push 0x3B\n    push u3\n    iret\nu3: pushf\n    pop ebx\n    hlt',
      { cpl: 1, eflags: 0x1002 },
    );
    expect(r.regs.ebx).toBe(0x1202); // 1 ≤ IOPL 1: IF set; cpl 1 ≠ 0: IOPL stays 1
    expect(r.trace).toEqual([gpAt(8)]);
    expect(r.r32(ESP0 - 16)).toBe(0x3b); // the hlt ran at cpl 3
    expect(r.r32(ESP0 - 8)).toBe(0x3000); // its esp: popped 0x3000 (pushf/pop net 0)
  });

  const igp = (frame: string, code: number) => {
    const r = run(kernel(`${frame}\nf:  iret`));
    expect(r.trace).toEqual([{ icount: BOOT + frame.split('\n').length, kind: 'exception', vector: GP, errorCode: code, eip: r.sym('f') }]);
    return r;
  };

  test('iret CS ≠ 0x08 + 0x11*r → #GP(CS & 0xFFFC): 0x0B', () => {
    igp('    push 0x8C3\n    push 0x0B\n    push 0x1000', 0x08); // r = 3, expected 0x3B
  });

  test('iret CS 0x1B → #GP(0x18); CS 0x0A → #GP(0x08); CS 0 → #GP(0)', () => {
    igp('    push 0x2\n    push 0x1B\n    push 0x1000', 0x18);
    igp('    push 0x2\n    push 0x0A\n    push 0x1000', 0x08); // r = 2, expected 0x2A
    igp('    push 0x2\n    push 0x00\n    push 0x1000', 0x00); // r = 0, expected 0x08
  });

  test('iret to an outer ring with a wrong SS → #GP(SS & 0xFFFC)', () => {
    igp('    push 0x23\n    push 0x1000\n    push 0x2\n    push 0x3B\n    push 0x1000', 0x20); // SS must be 0x43
    igp('    push 0x10\n    push 0x1000\n    push 0x2\n    push 0x3B\n    push 0x1000', 0x10);
    igp('    push 0x43\n    push 0x1000\n    push 0x2\n    push 0x19\n    push 0x1000', 0x40); // r = 1 needs SS 0x21
  });

  test('a failed iret changes no state (all pops before any state change)', () => {
    // eflags preset to 0x8C3, then a frame for r = 1 with a wrong SS (0x43 ≠ 0x21).
    const r = igp('    push 0x8C3\n    popf\n    push 0x43\n    push 0x1000\n    push 0x3AC3\n    push 0x19\n    push 0x1000', 0x40);
    // esp at the iret = KSTACK - 20; the #GP frame (same ring) goes right below it.
    expect(r.regs.esp).toBe(KSTACK - 36);
    expect(r.r32(KSTACK - 24)).toBe(0x8c3); // eflags before the iret, not the popped 0x3AC3
    expect(r.r32(KSTACK - 28)).toBe(0x08); // still ring 0
    expect(r.r32(KSTACK - 32)).toBe(r.sym('f'));
    expect(r.r32(KSTACK - 36)).toBe(0x40); // error code
    expect(r.cpl).toBe(0);
  });

  test('iret at cpl 3 to ring 0 (r < cpl) → #GP(CS & 0xFFFC)', () => {
    const r = user('    push 0x2\n    push 0x08\n    push 0x1000\n    iret');
    expect(r.trace).toEqual([gpAt(3, 0x08)]);
    expect(r.r32(ESP0 - 8)).toBe(USTACK - 12); // esp not changed by the failed iret
    const r1 = user('    push 0x2\n    push 0x19\n    push 0x1000\n    iret');
    expect(r1.trace).toEqual([gpAt(3, 0x18)]); // r = 1 < 3
  });
});
