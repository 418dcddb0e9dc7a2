// The trap-and-emulate monitor's rare paths (src/vmm/trap-emulate/monitor.ts), each driven
// by a program written to reach it — mutation testing found them unpinned. None of these
// programs uses a sensitive unprivileged instruction, so trap-emulate must match the spec
// in lockstep (DESIGN §5); the values that matter are derived by hand from DESIGN §3.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import type { HostEvent, Observation } from '../../spec/observation.ts';
import { engineFactory } from '../../src/engines/registry.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { formatDivergence } from '../../properties/lockstep/report.ts';

const RAM = 0x40000;
const make = engineFactory('trap-emulate');

function run(source: string, events: HostEvent[] = []): Observation {
  const { image } = assemble(source, 'monitor-paths.s');
  const config = { ramBytes: RAM };
  const r = lockstep(make, { image, config, events, maxSteps: 200 }, { ramStride: 1 });
  expect(r.divergence, r.divergence && formatDivergence(r.divergence, 'trap-emulate')).toBeUndefined();
  return make(image, config).run(events, 200);
}

/** The trace as [vector, error code] pairs (DESIGN §2 `trace`). */
const faults = (obs: Observation): unknown[] => obs.trace.map((t) => ('vector' in t ? [t.vector, t.errorCode] : t.kind));

/** Paging on: PD at 0x15000, PT at 0x17000; gva 0x0000 → 0x0000, gva 0x1000 → 0x3000. */
const PAGING = `
    mov eax, 0x15000
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax`;
const TABLES = `
  .org 0x15000
    .dd 0x17000 | 7
  .org 0x17000
    .dd 0x0 | 7, 0x3000 | 7, 0x2000 | 7`;

// `lidt [0x2000]` (bytes 72 00 08 00, imm 00 20 00 00) at gva 0xFFC straddles two pages
// that are not adjacent in guest-physical memory: its first word at gpa 0xFFC, its imm at
// gpa 0x3000 (gpa 0x1000 holds junk). At real ring 1 it raises #GP; the monitor must read
// the trapping instruction across both pages to find the operand and emulate it: IDTR =
// limit 0x7FF, base 0x10000 from the descriptor at 0x2000 (DESIGN §3.4).
test('a privileged instruction straddling two pages is fetched whole and emulated', () => {
  const obs = run(`
    ${PAGING}
    jmp 0xFFC
  .org 0xFFC
    .db 0x72, 0, 0x08, 0
  .org 0x1000
    .db 0xFF, 0xFF, 0xFF, 0xFF
  .org 0x2000
    .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x3000
    .db 0x00, 0x20, 0, 0
    hlt
    ${TABLES}`);
  expect(obs.idtr).toEqual({ base: 0x10000, limit: 0x7ff });
  expect(obs.eip).toBe(0x100c); // halted after the hlt at gva 0x1004
  expect(obs.trace).toEqual([]);
});

// A store straddling from the page table (traced: the monitor emulates it) into a page
// that is not present: the emulator's translation of the second half faults. DESIGN §3.5:
// error code P = 0, W = 1, U = 0; CR2 the second page (§3.10.2); nothing written (§3.4).
test('an emulated store faulting on its second page: #PF with its error code and CR2', () => {
  const obs = run(`
    mov esp, 0x9000
    lidt [idt_desc]
    ${PAGING}
    mov eax, 0xAABBCCDD
    mov [0x2FFE], eax
    hlt
  pf: pop ecx
    hlt
  idt_desc: .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x10000 + 8 * 14
    .dd (pf & 0xFFFF) | (0x08 << 16), (pf & 0xFFFF0000) | 0x8E00
  .org 0x15000
    .dd 0x17000 | 7
  .org 0x17000
    .dd 0x0 | 7, 0x1000 | 7, 0x17000 | 7, 0, 0, 0, 0, 0, 0x8000 | 7
  .org 0x17000 + 4 * 0x10
    .dd 0x10000 | 7`);
  expect(obs.trace.map((t) => ('vector' in t ? t.vector : t.kind))).toEqual([14]);
  expect([obs.regs.ecx, obs.cr2]).toEqual([2, 0x3000]);
  expect([obs.ram[0x17ffe], obs.ram[0x17fff]]).toEqual([0, 0]);
});

// An external interrupt whose delivery cannot even start: the IDT limit is 0, so the gate
// of vector 0x20 is past it — #GP (benign then contributory: deliver the #GP), whose gate
// is past it too — #DF (contributory then contributory), whose gate is past it as well:
// shutdown (DESIGN §3.7). The monitor reflects interrupts itself (deliverExternal).
test('an external interrupt whose delivery escalates to a triple fault shuts the VM down', () => {
  const obs = run(
    `
    lidt [idt_desc]
    sti
    nop
    nop
    hlt
  idt_desc: .dd 0, 0`,
    [{ at: 2, kind: 'irq', vector: 0x20 }],
  );
  expect(obs.status).toBe('shutdown');
  // After the nop in sti's shadow; the chain: irq 0x20, its #GP, the #DF, the #GP that hit it.
  expect(obs.trace).toEqual([{ icount: 3, kind: 'shutdown', chain: [0x20, 13, 8, 13] }]);
});

// Privileged and IOPL-sensitive instructions at the guest's ring 3 (DESIGN §3.4:
// privileged ones #GP(0) at cpl > 0; cli, sti, in, out #GP(0) when cpl > IOPL, here 0).
// Each traps to the monitor, which must decide by the guest's own cpl, not emulate, and
// reflect the #GP through the guest's IDT and TSS. The kernel enters ring 3 by iret with
// eflags 0x2 (IF and IOPL as they are, so the iret has no sensitive effect). Ring 1 is
// out of reach: the iret into it is itself refuted (ring compression, monitor.ts).
const PRIVILEGED = [
  'hlt',
  'cli',
  'sti',
  'mov cr0, eax',
  'mov cr2, eax',
  'mov eax, cr3',
  'lidt [0x4000]',
  'ltr eax',
  'invlpg [0x4000]',
  'in eax, 0xe9',
  'out 0xe9, eax',
];
test.each(PRIVILEGED)('ring 3: %s is #GP(0), reflected to the guest', (insn) => {
  const ring = 3;
  const obs = run(`
    mov esp, 0x9000
    lidt [idt_desc]
    mov eax, 0x3000
    ltr eax
    push ${0x10 + 0x11 * ring}
    push 0x7000
    push 0x2
    push ${0x08 + 0x11 * ring}
    push 0x2000
    iret
  gp: pop ecx
    pop edx
    hlt
  idt_desc: .dd (0x1000 << 16) | 0x7FF, 0x1000 >> 16
  .org 0x1000 + 8 * 13
    .dd (gp & 0xFFFF) | (0x08 << 16), (gp & 0xFFFF0000) | 0x8E00
  .org 0x2000
    mov eax, 0x80000001
    ${insn}
    hlt
  .org 0x3000
    .dd 0, 0x9000`);
  expect(faults(obs)).toEqual([[13, 0]]);
  expect([obs.regs.ecx, obs.regs.edx, obs.cpl]).toEqual([0, 0x2008, 0]);
  expect([obs.cr0, obs.cr2, obs.idtr.base]).toEqual([1, 0, 0x1000]);
});

// mov to and from control registers at the guest's ring 0 (DESIGN §3.4): every one traps
// at real ring 1 and is emulated on the virtual registers. Writes store; reads return the
// stored values (never the shadow root or the host's CR0/CR4). A CR0 without PE, or a CR4
// bit other than PSE, is #GP(0) with the register unchanged.
test.each([
  ['mov cr0, edi', 0x2], // PE clear
  ['mov cr4, esi', 0x30], // PSE and a reserved bit
])('ring 0: control registers read back what was written; %s with %s is #GP(0)', (bad, value) => {
  const obs = run(`
    mov esp, 0x9000
    lidt [idt_desc]
    mov eax, 0x1234
    mov cr2, eax
    mov eax, 0x10
    mov cr4, eax
    mov eax, 0x5000
    mov cr3, eax
    mov eax, cr0
    mov ebx, cr2
    mov ecx, cr3
    mov edx, cr4
    mov edi, ${value}
    mov esi, ${value}
    ${bad}
    hlt
  gp: pop ebp
    hlt
  idt_desc: .dd (0x1000 << 16) | 0x7FF, 0x1000 >> 16
  .org 0x1000 + 8 * 13
    .dd (gp & 0xFFFF) | (0x08 << 16), (gp & 0xFFFF0000) | 0x8E00`);
  expect([obs.regs.eax, obs.regs.ebx, obs.regs.ecx, obs.regs.edx]).toEqual([1, 0x1234, 0x5000, 0x10]);
  expect(faults(obs)).toEqual([[13, 0]]);
  expect([obs.cr0, obs.cr4, obs.regs.ebp]).toEqual([1, 0x10, 0]);
});
