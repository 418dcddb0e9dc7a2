// Efficiency (Popek & Goldberg's third condition, DESIGN §7) on generated user-mode loops:
// after warm-up, a loop of innocuous instructions — arithmetic, loads and stores on its own
// pages, push/pop — retires with no exit at all under vmx-shadow. The same loops on an
// overcommitted host (fewer host frames than the loop's working set) exit all the time,
// which shows the measure can fail.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assemble } from '../spec/asm/assemble.ts';
import { runSpec } from '../spec/machine.ts';
import { VmxShadowEngine, type VmxShadowOptions } from '../src/engines/vmx-shadow.ts';

const DATA = 0x40000; // the loop's pages: DATA .. DATA + pages * 4 KiB, user-writable
const REGS = ['eax', 'ebx', 'edx', 'esi', 'edi'];

const regArb = fc.constantFrom(...REGS);
const opArb = fc.oneof(
  fc.tuple(fc.constantFrom('add', 'sub', 'and', 'or', 'xor', 'cmp', 'test'), regArb, regArb).map(([op, a, b]) => `${op} ${a}, ${b}`),
  fc.tuple(fc.constantFrom('add', 'xor', 'shl', 'shr', 'sar'), regArb, fc.nat(31)).map(([op, a, n]) => `${op} ${a}, ${n}`),
  fc.tuple(regArb, fc.nat(7), fc.nat(1023)).map(([a, page, word]) => `mov ${a}, [${DATA + page * 0x1000 + word * 4}]`),
  fc.tuple(regArb, fc.nat(7), fc.nat(1023)).map(([a, page, word]) => `mov [${DATA + page * 0x1000 + word * 4}], ${a}`),
  fc.tuple(regArb, regArb).map(([a, b]) => `push ${a}\n        pop ${b}`),
  fc.constantFrom('pushf\n        pop eax', 'inc edx', 'neg ebx', 'not esi', 'nop'),
);

/** Boot with paging on (identity map, user pages), iret to ring 3, run the loop forever. */
const program = (body: string[]): string => `
        mov esp, 0x8000
        lidt [idt_desc]
        mov eax, tss
        ltr eax
        mov ecx, 0
map:    mov eax, ecx
        shl eax, 12
        or eax, 7
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + 0x11000], eax
        inc ecx
        cmp ecx, 256
        jne map
        mov eax, 0x11007
        mov [0x10000], eax
        mov eax, 0x10000
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        push 0x43
        push 0x70000
        push 0x202
        push 0x3B
        push user
        iret
user:
${body.map((l) => `        ${l}`).join('\n')}
        jmp user
tss:    .dd 0, 0x9000
idt_desc:
        .db 0xFF, 0x07
        .dd 0x20000
`;

function hotExits(body: string[], opts: VmxShadowOptions): { exits: number; instructions: number } {
  const { image } = assemble(program(body), 'loop.s');
  const e = new VmxShadowEngine(image, { ramBytes: 1 << 20 }, opts);
  e.run([], 20_000); // warm-up: boot, then enough iterations to touch the working set
  const warm = e.counters();
  e.run([], 50_000);
  const hot = e.counters();
  return { exits: hot.exits! - warm.exits!, instructions: hot.instructions! - warm.instructions! };
}

const loopArb = fc.array(opArb, { minLength: 1, maxLength: 24 });

test('after warm-up, generated user loops retire with no exit but the step budget', () => {
  fc.assert(
    fc.property(loopArb, (body) => {
      // The loop is a real user loop: the spec sees it running at cpl 3, with no event.
      const spec = runSpec(assemble(program(body), 'loop.s').image, { ramBytes: 1 << 20 }, [], 20_000);
      expect([spec.cpl, spec.trace.length]).toEqual([3, 0]);
      const r = hotExits(body, {});
      expect(r.instructions).toBe(50_000);
      expect(r.exits).toBeLessThanOrEqual(1); // the budget running out (preemption timer)
    }),
    { seed: 0xeff, numRuns: 40 },
  );
});

test('the measure has teeth: on a host with 4 frames for an 8-page working set the loop keeps exiting', () => {
  const body = Array.from({ length: 8 }, (_, page) => `mov [${DATA + page * 0x1000}], eax`);
  expect(hotExits(body, {}).exits).toBeLessThanOrEqual(1);
  expect(hotExits(body, { hostGuestFrames: 4 }).exits).toBeGreaterThan(1000);
});
