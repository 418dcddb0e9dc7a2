// DESIGN §3.4 — ALU flags (IA-32 rules, SDM vol. 2 per instruction), shifts, and the
// instructions that change no flags. Each case presets the flags with popf at cpl 0,
// runs one instruction and reads eflags. CF 0x1, ZF 0x40, SF 0x80, OF 0x800, bit 1 = 0x2.
import { describe, expect, test } from 'vitest';
import { CF, FIXED, OF, SF, ZF, run, setFlags } from './harness.ts';

const ALL = CF | ZF | SF | OF | FIXED; // 0x8C3: every arithmetic flag VX32 keeps

function alu(preset: number, body: string) {
  return run(`.org 0x1000\n    mov esp, 0x8000\n${setFlags(preset)}\n${body}\n    hlt`);
}

interface Case {
  name: string;
  preset: number;
  body: string;
  eax: number;
  flags: number;
}

const cases = (list: Case[]) => list.map((c) => [c.name, c] as const);

describe('§3.4 add', () => {
  test.each(
    cases([
      // 0xFFFFFFFF + 1 = 0x1_00000000: carry out, result 0, no signed overflow (-1 + 1)
      { name: '-1 + 1: CF ZF', preset: FIXED, body: '    mov eax, 0xFFFFFFFF\n    add eax, 1', eax: 0, flags: FIXED | CF | ZF },
      // 0x7FFFFFFF + 1: positive + positive = negative → OF, SF; no carry
      { name: 'MAX + 1: OF SF', preset: FIXED, body: '    mov eax, 0x7FFFFFFF\n    add eax, 1', eax: 0x80000000, flags: FIXED | OF | SF },
      // 0x80000000 + 0x80000000: carry, negative + negative = 0 → OF, ZF
      {
        name: 'MIN + MIN: CF OF ZF',
        preset: FIXED,
        body: '    mov eax, 0x80000000\n    mov ebx, 0x80000000\n    add eax, ebx',
        eax: 0,
        flags: FIXED | CF | OF | ZF,
      },
      // 1 + 2 = 3: all four flags cleared from the preset
      { name: '1 + 2 clears all', preset: ALL, body: '    mov eax, 1\n    add eax, 2', eax: 3, flags: FIXED },
      // 0xFFFFFFFF + 0xFFFFFFFF = 0x1_FFFFFFFE: CF, SF; (-1) + (-1) = -2 no overflow
      {
        name: '-1 + -1: CF SF',
        preset: FIXED,
        body: '    mov eax, 0xFFFFFFFF\n    mov ecx, 0xFFFFFFFF\n    add eax, ecx',
        eax: 0xfffffffe,
        flags: FIXED | CF | SF,
      },
    ]),
  )('%s', (_n, c) => {
    const r = alu(c.preset, c.body);
    expect(r.regs.eax).toBe(c.eax);
    expect(r.eflags).toBe(c.flags);
  });
});

describe('§3.4 sub and cmp', () => {
  test.each(
    cases([
      // 0 - 1: borrow → CF; result -1 → SF; 0 - 1 no signed overflow
      { name: '0 - 1: CF SF', preset: FIXED, body: '    mov eax, 0\n    sub eax, 1', eax: 0xffffffff, flags: FIXED | CF | SF },
      // MIN - 1 = MAX: negative - positive = positive → OF; no borrow
      { name: 'MIN - 1: OF', preset: FIXED, body: '    mov eax, 0x80000000\n    sub eax, 1', eax: 0x7fffffff, flags: FIXED | OF },
      { name: '5 - 5: ZF', preset: ALL, body: '    mov eax, 5\n    mov ebx, 5\n    sub eax, ebx', eax: 0, flags: FIXED | ZF },
      // MAX - (-1) = 0x80000000: unsigned 0x7FFFFFFF < 0xFFFFFFFF → CF; overflow → OF; SF
      {
        name: 'MAX - (-1): CF OF SF',
        preset: FIXED,
        body: '    mov eax, 0x7FFFFFFF\n    sub eax, 0xFFFFFFFF',
        eax: 0x80000000,
        flags: FIXED | CF | OF | SF,
      },
      // cmp is sub without the write: 3 - 5 = 0xFFFFFFFE → CF SF; eax stays 3
      {
        name: 'cmp 3, 5 keeps eax: CF SF',
        preset: FIXED,
        body: '    mov eax, 3\n    mov ebx, 5\n    cmp eax, ebx',
        eax: 3,
        flags: FIXED | CF | SF,
      },
      { name: 'cmp imm equal: ZF', preset: ALL, body: '    mov eax, 0x1234\n    cmp eax, 0x1234', eax: 0x1234, flags: FIXED | ZF },
      // cmp MIN, 1 → OF (as sub) and no CF
      { name: 'cmp MIN, 1: OF', preset: FIXED, body: '    mov eax, 0x80000000\n    cmp eax, 1', eax: 0x80000000, flags: FIXED | OF },
    ]),
  )('%s', (_n, c) => {
    const r = alu(c.preset, c.body);
    expect(r.regs.eax).toBe(c.eax);
    expect(r.eflags).toBe(c.flags);
  });
});

describe('§3.4 logic ops and test clear CF and OF', () => {
  test.each(
    cases([
      { name: 'and → 0: ZF, CF OF cleared', preset: ALL, body: '    mov eax, 0xF0\n    and eax, 0x0F', eax: 0, flags: FIXED | ZF },
      {
        name: 'or → negative: SF, CF OF cleared',
        preset: ALL,
        body: '    mov eax, 0x80000000\n    mov ecx, 1\n    or eax, ecx',
        eax: 0x80000001,
        flags: FIXED | SF,
      },
      { name: 'xor eax, eax: ZF', preset: ALL, body: '    mov eax, 0x1234\n    xor eax, eax', eax: 0, flags: FIXED | ZF },
      { name: 'xor imm', preset: ALL, body: '    mov eax, 0xFF00FF00\n    xor eax, 0x0FF00FF0', eax: 0xf0f0f0f0, flags: FIXED | SF },
      {
        name: 'and reg positive nonzero: all clear',
        preset: ALL,
        body: '    mov eax, 0x7\n    mov edx, 0x3\n    and eax, edx',
        eax: 3,
        flags: FIXED,
      },
      // test = and without the write
      {
        name: 'test keeps eax: SF',
        preset: ALL,
        body: '    mov eax, 0x80000001\n    mov ebx, 0x80000000\n    test eax, ebx',
        eax: 0x80000001,
        flags: FIXED | SF,
      },
      {
        name: 'test imm → 0: ZF',
        preset: ALL,
        body: '    mov eax, 0x80000001\n    test eax, 0x7FFFFFFE',
        eax: 0x80000001,
        flags: FIXED | ZF,
      },
    ]),
  )('%s', (_n, c) => {
    const r = alu(c.preset, c.body);
    expect(r.regs.eax).toBe(c.eax);
    expect(r.eflags).toBe(c.flags);
  });
});

describe('§3.4 inc, dec, neg, not', () => {
  test.each(
    cases([
      // inc keeps CF: 0xFFFFFFFF + 1 = 0 → ZF, CF stays as preset (1)
      { name: 'inc -1 keeps CF = 1', preset: FIXED | CF, body: '    mov eax, 0xFFFFFFFF\n    inc eax', eax: 0, flags: FIXED | CF | ZF },
      // inc MAX → MIN: OF SF; CF stays 0
      {
        name: 'inc MAX: OF SF, CF stays 0',
        preset: FIXED,
        body: '    mov eax, 0x7FFFFFFF\n    inc eax',
        eax: 0x80000000,
        flags: FIXED | OF | SF,
      },
      // dec MIN → MAX: OF; CF stays 1
      {
        name: 'dec MIN: OF, CF stays 1',
        preset: FIXED | CF,
        body: '    mov eax, 0x80000000\n    dec eax',
        eax: 0x7fffffff,
        flags: FIXED | CF | OF,
      },
      { name: 'dec 1: ZF, CF stays 0', preset: FIXED, body: '    mov eax, 1\n    dec eax', eax: 0, flags: FIXED | ZF },
      // dec 0 → -1: SF; no borrow flag change (CF kept 0)
      { name: 'dec 0: SF, CF stays 0', preset: FIXED, body: '    mov eax, 0\n    dec eax', eax: 0xffffffff, flags: FIXED | SF },
      // neg: CF = (src ≠ 0), OF = (src = 0x80000000)
      { name: 'neg 0: CF = 0, ZF', preset: ALL, body: '    mov eax, 0\n    neg eax', eax: 0, flags: FIXED | ZF },
      { name: 'neg 1: CF SF', preset: FIXED, body: '    mov eax, 1\n    neg eax', eax: 0xffffffff, flags: FIXED | CF | SF },
      {
        name: 'neg MIN: CF OF SF',
        preset: FIXED,
        body: '    mov eax, 0x80000000\n    neg eax',
        eax: 0x80000000,
        flags: FIXED | CF | OF | SF,
      },
      { name: 'neg -5: CF, positive', preset: FIXED, body: '    mov eax, 0xFFFFFFFB\n    neg eax', eax: 5, flags: FIXED | CF },
      // not: no flags
      { name: 'not keeps all flags set', preset: ALL, body: '    mov eax, 0x0F0F0F0F\n    not eax', eax: 0xf0f0f0f0, flags: ALL },
      { name: 'not keeps all flags clear (result 0)', preset: FIXED, body: '    mov eax, 0xFFFFFFFF\n    not eax', eax: 0, flags: FIXED },
    ]),
  )('%s', (_n, c) => {
    const r = alu(c.preset, c.body);
    expect(r.regs.eax).toBe(c.eax);
    expect(r.eflags).toBe(c.flags);
  });
});

describe('§3.4 shifts', () => {
  test.each(
    cases([
      // count 0 changes nothing, not even ZF for a zero value
      { name: 'shl 0 keeps flags set', preset: ALL, body: '    mov eax, 5\n    shl eax, 0', eax: 5, flags: ALL },
      { name: 'shr 0 of 0 keeps flags clear', preset: FIXED, body: '    mov eax, 0\n    shr eax, 0', eax: 0, flags: FIXED },
      {
        name: 'sar 0 keeps flags',
        preset: FIXED | OF | CF,
        body: '    mov eax, 0x80000000\n    sar eax, 0',
        eax: 0x80000000,
        flags: FIXED | OF | CF,
      },
      // shl 1: CF = old bit 31; OF = MSB(result) xor CF
      {
        name: 'shl 0x80000001,1: CF=1, OF=0^1',
        preset: FIXED,
        body: '    mov eax, 0x80000001\n    shl eax, 1',
        eax: 2,
        flags: FIXED | CF | OF,
      },
      {
        name: 'shl 0x40000000,1: CF=0, OF=1^0, SF',
        preset: FIXED,
        body: '    mov eax, 0x40000000\n    shl eax, 1',
        eax: 0x80000000,
        flags: FIXED | OF | SF,
      },
      {
        name: 'shl 0xC0000000,1: CF=1, OF=1^1=0, SF',
        preset: FIXED | OF,
        body: '    mov eax, 0xC0000000\n    shl eax, 1',
        eax: 0x80000000,
        flags: FIXED | CF | SF,
      },
      // shl n>1: CF = bit (32-n) of the source; OF = 0 (VX32 defines it)
      {
        name: 'shl 0x40000000,2: CF = bit 30, ZF, OF=0',
        preset: FIXED | OF,
        body: '    mov eax, 0x40000000\n    shl eax, 2',
        eax: 0,
        flags: FIXED | CF | ZF,
      },
      {
        name: 'shl 0x20000000,2: SF, OF=0 (count > 1)',
        preset: FIXED,
        body: '    mov eax, 0x20000000\n    shl eax, 2',
        eax: 0x80000000,
        flags: FIXED | SF,
      },
      {
        name: 'shl 1,4: CF = bit 28 = 0, OF cleared',
        preset: FIXED | OF | CF,
        body: '    mov eax, 1\n    shl eax, 4',
        eax: 0x10,
        flags: FIXED,
      },
      { name: 'shl 3,31: CF = bit 1, SF', preset: FIXED, body: '    mov eax, 3\n    shl eax, 31', eax: 0x80000000, flags: FIXED | CF | SF },
      // shr 1: CF = old bit 0; OF = MSB(original)
      {
        name: 'shr 0x80000001,1: CF, OF = old MSB',
        preset: FIXED,
        body: '    mov eax, 0x80000001\n    shr eax, 1',
        eax: 0x40000000,
        flags: FIXED | CF | OF,
      },
      { name: 'shr 1,1: CF ZF, OF = 0', preset: FIXED | OF, body: '    mov eax, 1\n    shr eax, 1', eax: 0, flags: FIXED | CF | ZF },
      {
        name: 'shr 0xC0000000,31: CF = bit 30',
        preset: FIXED,
        body: '    mov eax, 0xC0000000\n    shr eax, 31',
        eax: 1,
        flags: FIXED | CF,
      },
      {
        name: 'shr 0x80000000,31: CF = bit 30 = 0, OF=0',
        preset: FIXED | OF | CF,
        body: '    mov eax, 0x80000000\n    shr eax, 31',
        eax: 1,
        flags: FIXED,
      },
      { name: 'shr 0x100,4: CF = bit 3 = 0', preset: FIXED | CF, body: '    mov eax, 0x100\n    shr eax, 4', eax: 0x10, flags: FIXED },
      // sar 1: OF = 0
      {
        name: 'sar 0x80000001,1: CF SF, OF=0',
        preset: FIXED | OF,
        body: '    mov eax, 0x80000001\n    sar eax, 1',
        eax: 0xc0000000,
        flags: FIXED | CF | SF,
      },
      {
        name: 'sar 0x80000000,31: SF, CF = bit 30 = 0',
        preset: FIXED | CF,
        body: '    mov eax, 0x80000000\n    sar eax, 31',
        eax: 0xffffffff,
        flags: FIXED | SF,
      },
      {
        name: 'sar -1,4: CF = bit 3, SF',
        preset: FIXED,
        body: '    mov eax, 0xFFFFFFFF\n    sar eax, 4',
        eax: 0xffffffff,
        flags: FIXED | CF | SF,
      },
      {
        name: 'sar 0x40000000,30: 1, CF = bit 29 = 0',
        preset: FIXED | ZF,
        body: '    mov eax, 0x40000000\n    sar eax, 30',
        eax: 1,
        flags: FIXED,
      },
    ]),
  )('%s', (_n, c) => {
    const r = alu(c.preset, c.body);
    expect(r.regs.eax).toBe(c.eax);
    expect(r.eflags).toBe(c.flags);
  });
});

describe('§3.4 mov, lea, stack and jumps change no flags', () => {
  test.each([ALL, FIXED])('preset %i survives', (preset) => {
    const r = alu(
      preset,
      [
        '    mov eax, 0',
        '    mov ebx, eax',
        '    lea ecx, [eax + 0xFFFFFFFF]',
        '    mov [0x5000], ecx',
        '    mov edx, [0x5000]',
        '    movzx esi, byte [0x5000]',
        '    mov byte [0x5004], al',
        '    push eax',
        '    push 0',
        '    pop edi',
        '    pop edi',
        '    call sub1',
        '    mov ebp, after',
        '    jmp ebp',
        '    hlt',
        'sub1: ret',
        'after: jmp done',
        '    hlt',
        'done: mov eax, cr0',
        '    str ebx',
        '    mov ebx, cs',
      ].join('\n'),
    );
    expect(r.eflags).toBe(preset); // §3.4: mov, lea, stack and jumps change no flags
    expect(r.regs.ecx).toBe(0xffffffff); // lea computes m = 0 + 0xFFFFFFFF
    expect(r.regs.edx).toBe(0xffffffff);
    expect(r.regs.esi).toBe(0xff);
    expect(r.regs.esp).toBe(0x8000);
  });
});

describe('§3.3 jcc: every condition taken and not taken', () => {
  // SDM vol. 2 Jcc: o OF; no !OF; b CF; ae !CF; e ZF; ne !ZF; be CF|ZF; a !CF&!ZF; s SF;
  // ns !SF; l SF≠OF; ge SF=OF; le ZF|(SF≠OF); g !ZF&(SF=OF).
  const T = true;
  const N = false;
  const jcc: [string, number, boolean][] = [
    ['jo', OF, T],
    ['jo', FIXED, N],
    ['jno', FIXED, T],
    ['jno', OF, N],
    ['jb', CF, T],
    ['jb', ZF, N],
    ['jc', CF, T],
    ['jnc', CF, N],
    ['jae', FIXED, T],
    ['jae', CF, N],
    ['je', ZF, T],
    ['je', CF, N],
    ['jz', ZF, T],
    ['jnz', ZF, N],
    ['jne', CF, T],
    ['jne', ZF, N],
    ['jbe', CF, T],
    ['jbe', ZF, T],
    ['jbe', FIXED, N],
    ['jbe', SF | OF, N],
    ['ja', FIXED, T],
    ['ja', SF | OF, T],
    ['ja', CF, N],
    ['ja', ZF, N],
    ['js', SF, T],
    ['js', FIXED, N],
    ['jns', OF, T],
    ['jns', SF, N],
    ['jl', SF, T],
    ['jl', OF, T],
    ['jl', SF | OF, N],
    ['jl', FIXED, N],
    ['jge', FIXED, T],
    ['jge', SF | OF, T],
    ['jge', SF, N],
    ['jge', OF, N],
    ['jle', ZF, T],
    ['jle', SF, T],
    ['jle', OF, T],
    ['jle', FIXED, N],
    ['jle', SF | OF, N],
    ['jg', FIXED, T],
    ['jg', SF | OF, T],
    ['jg', ZF, N],
    ['jg', SF, N],
    ['jg', ZF | SF | OF, N],
  ];
  test.each(jcc)('%s with flags %i → taken %s', (op, flags, taken) => {
    const r = alu(flags | FIXED, `    ${op} yes\n    mov eax, 1\n    hlt\nyes: mov eax, 2`);
    expect(r.regs.eax).toBe(taken ? 2 : 1);
    expect(r.eflags).toBe(flags | FIXED); // jumps change no flags
  });
});
