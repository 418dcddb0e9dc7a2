// The vector chain of a triple fault (docs/vx32.md §7.5, spec/observation.ts `chain`),
// recorded by every built-in engine. The chains are derived by hand from DESIGN §3.7's
// escalation table, not read off an engine: each case names the rule at each arrow. Two of
// them make the VMX engines' chains cross exits (a true #PF found by the VMM and escalated
// in software; an external interrupt injected by the VMM).

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import type { HostEvent } from '../../spec/observation.ts';
import { ENGINE_NAMES, engineFactory } from '../../src/engines/registry.ts';

const DF = 8;
const GP = 13;
const PF = 14;
const UD = 6;

const IDT_LIMIT_ZERO = `
start:
        mov esp, 0x8000
        lidt [empty_idt]
        sti
        hlt
empty_idt:
        .db 0, 0
        .dd 0
`;

// The IDT (0x9000) lies on a page whose PTE is not present; everything else of the low
// 1 MiB is mapped one-to-one. Every gate read is a supervisor read of a not-present page.
const IDT_NOT_MAPPED = `
.equ PD, 0x10000
.equ PT, 0x11000
start:
        mov esp, 0x8000
        mov ecx, 0
map:
        mov eax, ecx
        shl eax, 12
        or eax, 3
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + PT], eax
        inc ecx
        cmp ecx, 256
        jne map
        mov eax, 0
        mov [PT + 9 * 4], eax        ; page 0x9000: not present
        mov eax, PT | 3
        mov [PD], eax
        mov eax, PD
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        lidt [idt_desc]
        ud2
idt_desc:
        .db 0xFF, 0
        .dd 0x9000
`;

// The same map with the IDT page present, and every gate of the IDT zero. Under
// shadow paging the IDT page is first touched by the #UD's delivery: a hidden fault that
// exits and re-injects the #UD (SDM 27.2.4), which is still one attempt.
const GATES_NOT_PRESENT = IDT_NOT_MAPPED.replace(
  '        mov eax, 0\n        mov [PT + 9 * 4], eax        ; page 0x9000: not present\n',
  '',
);

const cases: { name: string; source: string; events: HostEvent[]; chain: number[]; cr2?: number }[] = [
  {
    // ud2 with limit 0: #UD's gate is out of bounds → #GP (benign then contributory: the
    // #GP instead); #GP's gate is out of bounds → #GP (contributory twice: #DF); #DF's gate
    // is out of bounds → #GP: shutdown.
    name: 'examples/triple-fault.s',
    source: readFileSync(new URL('../../examples/triple-fault.s', import.meta.url), 'utf8'),
    events: [],
    chain: [UD, GP, DF, GP],
  },
  {
    // An external interrupt is benign like #UD: irq 32 → #GP → #DF → #GP.
    name: 'irq 32 with an IDT limit of 0',
    source: IDT_LIMIT_ZERO,
    events: [{ at: 4, kind: 'irq', vector: 32 }],
    chain: [32, GP, DF, GP],
  },
  {
    // #UD's gate read faults → #PF (benign: the #PF instead); the #PF's gate read faults
    // → #PF (page fault then #PF: #DF); the #DF's gate read faults → #PF: shutdown. Each
    // #PF writes CR2 when detected (§3.10.2): the last is the #DF gate, 0x9000 + 8·8.
    name: 'the IDT on a not-present page',
    source: IDT_NOT_MAPPED,
    events: [],
    chain: [UD, PF, DF, PF],
    cr2: 0x9040,
  },
  {
    // A zero gate has type 0, and the type is checked before P (§3.7): #UD's gate → #GP
    // (benign: the #GP instead); the #GP's → #GP (contributory twice: #DF); the #DF's →
    // #GP: shutdown.
    name: 'every gate zero, the IDT first touched by delivery',
    source: GATES_NOT_PRESENT,
    events: [],
    chain: [UD, GP, DF, GP],
  },
];

for (const engine of ENGINE_NAMES) {
  test.each(cases)(`${engine}: $name shuts down with its vector chain`, ({ source, events, chain, cr2 }) => {
    const { image } = assemble(source);
    const o = engineFactory(engine)(image, { ramBytes: 1 << 20 }).run(events, 10_000);
    expect(o.status).toBe('shutdown');
    expect(o.trace.at(-1)).toEqual({ icount: o.icount, kind: 'shutdown', chain });
    if (cr2 !== undefined) expect(o.cr2).toBe(cr2);
  });
}
