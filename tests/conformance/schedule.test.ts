// DESIGN §3.8 and §3.10.8–9 — the host-event schedule: when `at: k` fires, equal and
// unsorted `at`, pending as a set, halted time jumps, the step budget, host-only events.
import { describe, expect, test } from 'vitest';
import { BODY, BOOT, CODE, PAGING_ON, kernel, pageTables, run } from './harness.ts';
import type { HostEvent } from '../../spec/observation.ts';

const irq = (at: number, vector: number): HostEvent => ({ at, kind: 'irq', vector });
const intr = (icount: number, vector: number, eip: number) => ({ icount, kind: 'interrupt', vector, eip });
const NOPS = (n: number) => Array.from({ length: n }, () => '    nop').join('\n');

describe('§3.8 events schedule', () => {
  test('at: k fires before the (k+1)-th retired instruction', () => {
    for (const k of [BOOT + 2, BOOT + 5, BOOT + 9]) {
      const r = run(kernel(`    sti\n${NOPS(10)}\n    hlt`), { events: [irq(k, 32)] });
      // the (k+1)-th instruction of a straight-line program is at CODE + 8k
      expect(r.trace).toEqual([intr(k, 32, CODE + 8 * k)]);
    }
  });

  test('at: 0 fires before the first instruction (IF = 0 at reset → pending)', () => {
    const r = run('.org 0x1000\n    hlt', { events: [irq(0, 200)] });
    expect(r.pending).toEqual([200]);
    expect(r.icount).toBe(1);
  });

  test('equal at: all fire at that boundary, then the lowest vector is delivered', () => {
    const r = run(kernel(`    sti\n${NOPS(6)}\n    hlt`), { events: [irq(BOOT + 3, 40), irq(BOOT + 3, 33)] });
    expect(r.trace).toEqual([intr(BOOT + 3, 33, BODY + 24)]);
    expect(r.pending).toEqual([40]); // khang runs with IF = 0
  });

  test('the file need not be sorted', () => {
    const r = run(kernel(`    sti\n${NOPS(8)}\n    hlt`, { gates: { 33: 'h', 40: 'h' }, extra: '.org 0x9000\nh:  iret' }), {
      events: [irq(BOOT + 6, 40), irq(BOOT + 3, 33)],
    });
    // 33 at BOOT+3 (return BODY+24); its iret is the 4th retirement after BOOT; then nops at
    // BODY+24 (BOOT+5) and BODY+32 (BOOT+6) → 40 at BOOT+6 returning to BODY+40.
    expect(r.trace).toEqual([intr(BOOT + 3, 33, BODY + 24), intr(BOOT + 6, 40, BODY + 40)]);
    expect(r.icount).toBe(BOOT + 12); // sti + 8 nops + hlt + 2 irets
    expect(r.status).toBe('halted');
  });

  test('pending is a set: raising a pending vector again changes nothing', () => {
    const r = run(kernel(`${NOPS(3)}\n    sti\n    nop\n    nop\n    hlt`), {
      events: [irq(BOOT, 32), irq(BOOT + 1, 32), irq(BOOT + 2, 32)],
    });
    expect(r.trace).toEqual([intr(BOOT + 5, 32, BODY + 40)]); // once, after sti's shadow
    expect(r.pending).toEqual([]);
  });

  test('while halted, events keep firing in time order', () => {
    const r = run(kernel('    sti\n    hlt\n    hlt\n    hlt', { gates: { 34: 'h', 35: 'h' }, extra: '.org 0x9000\nh:  iret' }), {
      events: [irq(500, 35), irq(300, 34)],
    });
    // halted at BOOT+2; 34 fires first (at 300), wakes it; iret; hlt at BODY+16 retires; 35 fires
    expect(r.trace).toEqual([intr(BOOT + 2, 34, BODY + 16), intr(BOOT + 4, 35, BODY + 24)]);
    expect(r.status).toBe('halted');
    expect(r.icount).toBe(BOOT + 6);
  });

  test('the budget ends the run with status running', () => {
    const r = run('.org 0x1000\nl:  jmp l', { maxSteps: 100 });
    expect(r.status).toBe('running');
    expect(r.icount).toBe(100);
    expect(r.eip).toBe(0x1000);
  });

  test('events beyond the budget never fire', () => {
    const r = run('.org 0x1000\nl:  jmp l', { maxSteps: 100, events: [irq(200, 32)] });
    expect(r.pending).toEqual([]);
  });

  test('a halted CPU with an event left is not done: the run goes on to it', () => {
    const r = run(kernel('    cli\n    hlt'), { events: [irq(10_000, 32)], maxSteps: 100 });
    expect(r.status).toBe('halted');
    expect(r.pending).toEqual([32]); // §3.10.9: it fired during the time jump
  });

  test('host-only events change no observation', () => {
    const src = kernel(
      `${PAGING_ON}\n    mov eax, 0x1234\n    mov [0x400000], eax\n    sti\n${NOPS(5)}\n    mov ebx, [0x400000]\n    hlt`,
      {
        gates: { 32: 'h' },
        extra: `${pageTables({ pt1: { 0: 0x60007 } })}\n.org 0x9000\nh:  iret`,
      },
    );
    const hostOnly: HostEvent[] = [
      { at: 3, kind: 'swap-out', gpa: 0x60000 },
      { at: 7, kind: 'migrate', gpa: 0x1000 },
      { at: 8, kind: 'evict-shadow', count: 4 },
      { at: 9, kind: 'flush-tlb' },
      { at: 10, kind: 'reclaim', frames: 2 },
      { at: 11, kind: 'switch-vm' },
    ];
    const plain = run(src, { events: [irq(BOOT + 9, 32)] });
    const mixed = run(src, { events: [...hostOnly, irq(BOOT + 9, 32)], maxSteps: 10_000 });
    expect(plain.trace).toEqual([intr(BOOT + 9, 32, CODE + 8 * (BOOT + 9))]);
    expect(plain.regs.ebx).toBe(0x1234);
    // compare RAM by bytes, the rest field by field (a deep toEqual of 1 MiB is slow)
    const same = (a: ReturnType<typeof run>, b: ReturnType<typeof run>) => {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the methods are set aside, never called
      const { sym: _s1, r32: _a1, r8: _b1, ram: ramA, ...oa } = a;
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the methods are set aside, never called
      const { sym: _s2, r32: _a2, r8: _b2, ram: ramB, ...ob } = b;
      expect(oa).toEqual(ob);
      expect(Buffer.from(ramA).equals(Buffer.from(ramB))).toBe(true);
    };
    same(mixed, plain);
    // and host events are not steps: the same budget gives the same observation
    const budget = BOOT + 12;
    same(
      run(src, { events: [...hostOnly, irq(BOOT + 9, 32)], maxSteps: budget }),
      run(src, { events: [irq(BOOT + 9, 32)], maxSteps: budget }),
    );
  });
});
