// The Popek–Goldberg table must come out of the model as DESIGN §3.3–3.4 and §5 state it.

import { describe, expect, test } from 'vitest';
import { classifyAll } from '../spec/classify.ts';

const { table, theorem1 } = classifyAll();
const names = (pred: (c: (typeof table)[number]) => boolean) =>
  table
    .filter(pred)
    .map((c) => c.asm)
    .sort();

describe('popek classify', () => {
  test('privileged = the table of §3.3 (hlt, mov crN, lidt, ltr, invlpg) plus the IOPL-guarded cli, sti, in, out of §3.4', () => {
    expect(names((c) => c.privileged)).toEqual(
      [
        'hlt',
        'cli',
        'sti',
        'in eax, 0xe9',
        'out 0xe9, eax',
        'mov cr0, eax',
        'mov cr2, eax',
        'mov cr3, eax',
        'mov cr4, eax',
        'mov eax, cr0',
        'mov eax, cr2',
        'mov eax, cr3',
        'mov eax, cr4',
        'lidt [ebx]',
        'ltr eax',
        'invlpg [ebx]',
      ].sort(),
    );
  });

  test('ud2 and int always trap', () => {
    expect(names((c) => c.alwaysTraps)).toEqual(['int 0x80', 'ud2']);
  });

  test('Theorem 1 fails exactly on the sensitive unprivileged instructions of DESIGN §5 (and iret, which applies popf rules)', () => {
    expect(theorem1.holds).toBe(false);
    expect(theorem1.violations.map((v) => v.asm).sort()).toEqual(['iret', 'mov eax, cs', 'popf', 'pushf', 'sidt [ebx]', 'str eax']);
  });

  test('each verdict names the contrasting runs it came from', () => {
    const popf = table.find((c) => c.asm === 'popf')!;
    // §3.4: at cpl 1 > IOPL 0, popf cannot change IF (or IOPL) and does not fault.
    expect(popf.evidence.some((e) => e.startsWith('behaviour-sensitive: cpl 0 vs cpl 1: eflags'))).toBe(true);
    const cs = table.find((c) => c.asm === 'mov eax, cs')!;
    // §3.1: CS = 0x08 + 0x11 * cpl, so 0x08 at cpl 0 and 0x3b at cpl 3.
    expect(cs.evidence).toContain('behaviour-sensitive: cpl 0 vs cpl 3: eax 0x8 vs 0x3b');
  });

  test('innocuous instructions are neither privileged nor sensitive', () => {
    for (const asm of ['add eax, ebx', 'mov eax, [ebx]', 'push eax', 'jmp 0x1100', 'nop']) {
      const c = table.find((x) => x.asm === asm)!;
      expect([c.privileged, c.controlSensitive, c.behaviourSensitive], asm).toEqual([false, false, false]);
    }
  });
});
