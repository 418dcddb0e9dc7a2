// The rare exit paths of the VMX vCPUs (src/vmm/shadow/vcpu.ts, ept/vcpu.ts, and
// core/vmx-entry.ts, vmx-exits.ts which both share), each driven by a program written to
// reach it. Generated guests reach these paths too, but seldom:
// mutation testing (README "Mutation testing") found them unpinned at the reduced counts.
// Each program runs in lockstep against the spec (no divergence) with the audit after
// every exit, its counters show the path was taken where they can, and the values that
// matter are checked against DESIGN §3 by hand.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import type { Engine, HostEvent, Image, MachineConfig, Observation } from '../../spec/observation.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';

const RAM = 0x40000;
const MAX_STEPS = 300;

type Make = (image: Image, config: MachineConfig) => Engine & { counters(): Record<string, number> };
// The audit runs after every exit too (DESIGN §6.13): a path may break an invariant first.
const SHADOW: Make = (i, c) => new VmxShadowEngine(i, c, { auditEveryExit: true });
const EPT: Make = (i, c) => new VmxEptEngine(i, c, { auditEveryExit: true });

/** Lockstep against the spec, then the engine's own run: its final observation and counters. */
function run(make: Make, source: string, events: HostEvent[] = []): { obs: Observation; counters: Record<string, number> } {
  const { image } = assemble(source, 'exit-paths.s');
  const config = { ramBytes: RAM };
  const r = lockstep(make, { image, config, events, maxSteps: MAX_STEPS });
  expect(r.divergence?.fields ?? [], r.divergence && JSON.stringify(r.divergence.fields)).toEqual([]);
  const engine = make(image, config);
  const obs = engine.run(events, MAX_STEPS);
  return { obs, counters: engine.counters() };
}

/**
 * Paging on: PD at 0x15000, PT at 0x17000 mapping gva 0–0x10FFF and the PT itself
 * (0x17000) identity, user-writable; everything else not present.
 */
const PAGING = `
    mov eax, 0x15000
    mov cr3, eax
    mov eax, 0x80000001
    mov cr0, eax`;
const TABLES = `
  .org 0x15000
    .dd 0x17000 | 7
  .org 0x17000
    .dd 0x0 | 7, 0x1000 | 7, 0x2000 | 7, 0x3000 | 7, 0x4000 | 7, 0x5000 | 7, 0x6000 | 7, 0x7000 | 7, 0x8000 | 7
    .dd 0x9000 | 7, 0xA000 | 7, 0xB000 | 7, 0xC000 | 7, 0xD000 | 7, 0xE000 | 7, 0xF000 | 7, 0x10000 | 7
  .org 0x17000 + 4 * 0x17
    .dd 0x17000 | 7`;
/** The vectors of the handlers entered, in order (DESIGN §2 `trace`). */
const vectors = (obs: Observation): (number | string)[] => obs.trace.map((t) => ('vector' in t ? t.vector : t.kind));
/** The trace as [vector, error code] pairs (DESIGN §2 `trace`). */
const faults = (obs: Observation): unknown[] => obs.trace.map((t) => ('errorCode' in t ? [t.vector, t.errorCode] : t.kind));

/** An interrupt gate (type 0xE, DPL 3, selector 0x08) to `handler` (DESIGN §3.7). */
const gate = (handler: string) => `.dd (${handler} & 0xFFFF) | (0x08 << 16), (${handler} & 0xFFFF0000) | 0xEE00`;

test("guest CR reads: CR3 exits and reads the guest's value, CR0/CR4 read their shadows (DESIGN §6.7)", () => {
  const { obs, counters } = run(
    SHADOW,
    `
    ${PAGING}
    mov eax, 0x10
    mov cr4, eax
    mov ebx, cr3
    mov ecx, cr0
    mov edx, cr4
    hlt
    ${TABLES}`,
  );
  // DESIGN §3.4: "Reads return the stored values" — never the shadow root or the host's CR0/CR4.
  expect([obs.regs.ebx, obs.regs.ecx, obs.regs.edx]).toEqual([0x15000, 0x80000001, 0x10]);
  // mov cr3 (load), mov cr0 (PG changes), mov cr4 (PSE changes), mov ebx, cr3 (store).
  expect(counters['exit.cr-access']).toBe(4);
});

test('in: port 0xE9 reads 0xE9, any other port all ones (DESIGN §3.4), through the I/O exit', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs, counters } = run(
      make,
      `
      in eax, 0xe9
      in ebx, 0x60
      hlt`,
    );
    expect([obs.regs.eax, obs.regs.ebx]).toEqual([0xe9, 0xffffffff]);
    expect(counters['exit.io']).toBe(2);
  }
});

// DESIGN §3.4: mov cr0 #GP(0) if PE = 0 or a bit outside PE|WP|PG is set; mov cr4 #GP(0)
// for any bit but PSE. A write that changes a masked bit (PG, WP; PSE) exits and the
// VMM raises the #GP; one that does not is refused by the hardware. Either way the
// register keeps its value, and so does CR2 (§3.10.2 writes it for #PF only).
test.each([
  ['cr0', '0x80000000', 'PG without PE: exits'],
  ['cr0', '0x80000003', 'PG with a reserved bit: exits'],
  ['cr4', '0x30', 'PSE with a reserved bit: exits'],
  ['cr4', '0x20', 'a reserved bit alone: no exit'],
])('mov %s, %s is #GP(0) (%s)', (cr, value) => {
  const { obs } = run(
    SHADOW,
    `
    mov esp, 0x9000
    lidt [idt_desc]
    mov eax, 0x1234
    mov cr2, eax
    mov eax, ${value}
    mov ${cr}, eax
    hlt
  gp: pop ecx
    pop edx
    hlt
  idt_desc: .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x10000 + 8 * 13
    ${gate('gp')}`,
  );
  const insn = 5 * 8; // the sixth instruction faulted: its address is the frame's eip
  expect(vectors(obs)).toEqual([13]);
  expect([obs.regs.ecx, obs.regs.edx, obs.cr2]).toEqual([0, insn, 0x1234]);
  expect([obs.cr0, obs.cr4]).toEqual([1, 0]);
});

// A #PF while delivering a #PF is a #DF (DESIGN §3.7). The gates are in two pages: those
// of vectors 14 and 32 in an unmapped one, #DF's in a mapped one, so `int 32` faults on
// its gate read (benign then #PF: deliver the #PF), the #PF faults on its own gate read
// (#PF then #PF: #DF), and the #DF is delivered. Each #PF is the VMM's: a true fault
// found by its walker and reflected with the escalation.
test('#PF while delivering int n, then while delivering that #PF: the #DF handler runs', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      mov esp, 0x9000
      lidt [idt_desc]
      ${PAGING}
    fault: int 32
      hlt
    df: pop ecx
      pop edx
      hlt
    idt_desc: .dd (0x10F90 << 16) | 0x7FF, 0x10F90 >> 16
    .org 0x10F90 + 8 * 8
      ${gate('df')}
      ${TABLES}`,
    );
    expect(vectors(obs)).toEqual([8]);
    // CR2: the last #PF detected, the gate of vector 14 at 0x10F90 + 8 * 14.
    expect([obs.cr2, obs.regs.ecx]).toEqual([0x11000, 0]);
    expect(obs.regs.edx).toBe(6 * 8); // \`fault\`, the seventh instruction: the #DF frame's eip
  }
});

test('a #PF while delivering a #DF is a triple fault: shutdown, CR2 still written (DESIGN §3.7, §3.10.2)', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      mov esp, 0x9000
      lidt [idt_desc]
      ${PAGING}
      int 32
      hlt
    idt_desc: .dd (0x10FF0 << 16) | 0x7FF, 0x10FF0 >> 16
      ${TABLES}`,
    );
    expect(obs.status).toBe('shutdown');
    expect(obs.trace.map((t) => t.kind)).toEqual(['shutdown']);
    expect(obs.cr2).toBe(0x10ff0 + 8 * 8); // the #DF gate's read
  }
});

// The stack lies in the page table itself (gva 0x17000 maps the PT): every push of a
// delivery is a store to a traced gfn, so the VMM delivers the event in software. The
// frame's eip is the next instruction for `int n` (DESIGN §3.4) and for an interrupt.
test('int n and an external interrupt delivered in software push the right return eip', () => {
  const { obs, counters } = run(
    SHADOW,
    `
    lidt [idt_desc]
    ${PAGING}
    mov esp, 0x17800
    int 32
  after_int:
    sti
    nop
  after_nop:
    nop
    hlt
  idt_desc: .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x10000 + 8 * 32
    ${gate('h32')}
    ${gate('h33')}
  .org 0x10800 ; above 64 KiB: the gates' high offset halves matter
  h32: mov ebx, [esp]
    iret
  h33: mov ecx, [esp]
    iret
    ${TABLES}`,
    [{ at: 0, kind: 'irq', vector: 33 }],
  ); // IF = 0 from reset: it waits
  expect(vectors(obs)).toEqual([32, 33]);
  expect(obs.regs.ebx).toBe(7 * 8); // after_int: the eighth instruction
  expect(obs.regs.ecx).toBe(9 * 8); // after_nop: the irq waited out the STI shadow
  expect(counters.emulations).toBeGreaterThanOrEqual(2);
});

// A store that straddles from a traced page (the PT, mapped at 0x17000) into a page that
// is not present: the hardware exits on the traced half, the VMM emulates the store, and
// the emulator's own translation of the second half faults. DESIGN §3.4: the faulting
// store writes nothing; §3.5: error code P = 0, W = 1, U = 0; CR2 the second page.
test('an emulated store that faults on its second page: #PF with the right code and CR2, nothing written', () => {
  const { obs, counters } = run(
    SHADOW,
    `
    mov esp, 0x9000
    lidt [idt_desc]
    ${PAGING}
    mov eax, 0xAABBCCDD
    mov [0x17FFE], eax
    hlt
  pf: pop ecx
    hlt
  idt_desc: .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x10000 + 8 * 14
    ${gate('pf')}
    ${TABLES}`,
  );
  expect(vectors(obs)).toEqual([14]);
  expect([obs.regs.ecx, obs.cr2]).toEqual([2, 0x18000]);
  expect([obs.ram[0x17ffe], obs.ram[0x17fff]]).toEqual([0, 0]);
  expect(counters.emulations).toBeGreaterThanOrEqual(1);
});

// A stack in the MMIO window (paging off, so gva = gpa): every push is an aligned 4-byte
// store the VMM must emulate (§6.9, MMIO is never mapped), and DESIGN §3.2 makes each one
// visible — at +8 it appends to the device LOG, and a read there returns the log length.
test('push, push imm, pushf, call imm and call a onto the MMIO LOG register are emulated, each exactly once', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      mov esp, 0xFEE0000C
      push 0x11
      mov esp, 0xFEE0000C
      mov eax, 0x22
      push eax
      mov esp, 0xFEE0000C
      pushf
      mov esp, 0xFEE0000C
      call next
    next:
      mov esp, 0xFEE0000C
      mov eax, far
      call eax
      hlt
    far:
      mov esp, 0xFEE00008
      pop ebx
      hlt`,
    );
    // pushf pushes the reset eflags 0x2 (§3.1); each call the next instruction's address.
    expect(obs.device.log).toEqual([0x11, 0x22, 0x2, 9 * 8, 12 * 8]);
    expect(obs.regs.ebx).toBe(5); // the LOG register read: five entries
    expect(obs.regs.esp).toBe(0xfee0000c);
  }
});

// iret whose frame is in the MMIO window: it pops eip = ID (0x32335856), CS = COUNTER
// (set just before; the read then increments it) and eflags = the LOG length (§3.2).
// - CS 0x10 is no code selector of ring 0 (0x08 + 0x11·0): #GP(CS & 0xFFFC) = #GP(0x10).
// - CS 0x3B is ring 3's (0x08 + 0x11·3): r > cpl, so iret also pops esp (+0xC) and SS
//   (+0x10), both reading 0 (other offsets read 0). SS 0 is not 0x10 + 0x11·3:
//   #GP(SS & 0xFFFC) = #GP(0).
// Either way nothing changes (§3.4): cpl stays 0, so the #GP is delivered on the same
// stack, below the window, to open bus (dropped) — the trace has the code.
test.each([
  [0x10, 0x10, 'a bad CS'],
  [0x3b, 0, 'a good ring-3 CS, then a bad SS'],
])('iret popping CS %i from the MMIO window: #GP(%i) — %s', (cs, errorCode) => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      lidt [idt_desc]
      mov eax, ${cs}
      mov [0xFEE00004], eax
      mov esp, 0xFEE00000
      iret
    gp: hlt
    idt_desc: .dd (0x1000 << 16) | 0x7FF, 0x1000 >> 16
    .org 0x1000 + 8 * 13
      ${gate('gp')}`,
    );
    expect(faults(obs)).toEqual([[13, errorCode]]);
    expect(obs.cpl).toBe(0);
    expect(obs.eip).toBe(5 * 8 + 8); // halted after the handler's hlt
    expect(obs.device.counter).toBe(cs + 1); // CS was read exactly once
  }
});

// Software delivery that faults midway: the stack's top word is in the page table (traced,
// so the delivery is emulated) and the next one in an unmapped page. int 32's frame
// faults on its second push (§3.7: the first write stays), so does the #PF's (#PF then
// #PF: #DF), and so does the #DF's: shutdown, CR2 the unmapped word.
test('a delivery emulated in software that faults midway escalates to shutdown', () => {
  const { obs } = run(
    SHADOW,
    `
    lidt [idt_desc]
    ${PAGING}
    mov esp, 0x17004
    int 32
    hlt
  h: iret
  idt_desc: .dd (0x10000 << 16) | 0x7FF, 0x10000 >> 16
  .org 0x10000 + 8 * 8
    ${gate('h')}
  .org 0x10000 + 8 * 14
    ${gate('h')}
  .org 0x10000 + 8 * 32
    ${gate('h')}
    ${TABLES}`,
  );
  expect(obs.status).toBe('shutdown');
  expect(obs.cr2).toBe(0x16ffc);
});

// DESIGN §3.2: a store straddling the end of RAM writes its RAM bytes and drops the rest
// (open bus); the VMM emulates it (the open-bus half is never mapped writable).
test('a store straddling the end of RAM: the RAM half lands, the open-bus half is dropped', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      mov eax, 0x11223344
      mov [${RAM - 2}], eax
      mov ebx, [${RAM - 4}]
      mov ecx, [${RAM}]
      hlt`,
    );
    expect([obs.regs.ebx, obs.regs.ecx]).toEqual([0x33440000, 0xffffffff]);
  }
});

// A store straddling from the MMIO window into a RAM page read before (paging maps gva
// 0x18000 to the window's last page and 0x19000 to 0x6000). The MMIO half is not an aligned
// 4-byte access, so it is open bus and dropped (DESIGN §3.2); the RAM half lands: bytes
// 22 11 at 0x6000. The hardware exits on the MMIO half first, so the VMM emulates the
// whole store — and under nested paging the earlier read had mapped gfn 6 to the shared
// zero frame (ept-map.ts): the store allocates it a frame, and its EPT leaf must move
// there, or the read after the store sees zeros.
test('a store straddling from MMIO into a page read before: the read after sees its RAM half', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      ${PAGING}
      mov edx, [0x19000]
      mov eax, 0x11223344
      mov [0x18FFE], eax
      mov ebx, [0x19000]
      mov ecx, [0x6000]
      hlt
      ${TABLES}
    .org 0x17000 + 4 * 0x18
      .dd 0xFEE00000 | 7, 0x6000 | 7`,
    );
    expect([obs.regs.edx, obs.regs.ebx, obs.regs.ecx]).toEqual([0, 0x1122, 0x1122]);
  }
});

// The RAM half of that store rewrites the top half of a live guest PTE — the page table
// is RAM's last page — while the TLB holds the translation it gave. PTE 1023 at 0x3FFFC
// maps gva 0x3FF000 to 0x5000; bytes 01 00 at 0x3FFFE make it 0x15007, so gva 0x3FF000
// now reaches 0x15000 (DESIGN §3.6: no TLB, the store is visible at once). Under nested
// paging the VMM emulated the store (its open-bus half) and must flush the host TLB.
test('an emulated store into a live page table: the next access uses the new translation', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs, counters } = run(
      make,
      `
      mov eax, 0x20000
      mov cr3, eax
      mov eax, 0x80000001
      mov cr0, eax
      mov ebx, [0x3FF000]
      mov eax, 0xAAAA0001
      mov [0x3FFFE], eax
      mov ecx, [0x3FF000]
      hlt
    .org 0x5000
      .dd 0x11111111
    .org 0x15000
      .dd 0x22222222
    .org 0x20000
      .dd 0x3F000 | 7
    .org 0x3F000
      .dd 0x0 | 7, 0x1000 | 7
    .org 0x3F000 + 4 * 0x3F
      .dd 0x3F000 | 7, 0x40000 | 7
    .org 0x3F000 + 4 * 1023
      .dd 0x5000 | 7`,
    );
    expect([obs.regs.ebx, obs.regs.ecx]).toEqual([0x11111111, 0x22222222]);
    expect(obs.ram[0x3fffe]).toBe(1);
    if (make === EPT) expect(counters['vm.tlbFlushesForStores']).toBeGreaterThanOrEqual(1);
  }
});

// DESIGN §3.7: after `sti` sets IF, the next instruction runs in the STI shadow and a
// pending interrupt is delivered right after it. Here that instruction is an MMIO load the
// VMM emulates in software; the shadow must end with it, so the handler runs before `mov
// ebx, 1` (ecx = 0), and the frame's return eip is that instruction's (0x20).
test('the STI shadow ends after an instruction the VMM emulated: the pending interrupt comes next', () => {
  for (const make of [SHADOW, EPT]) {
    const { obs } = run(
      make,
      `
      mov esp, 0x9000
      lidt [idt_desc]
      sti
      mov eax, [0xFEE00000]
      mov ebx, 1
      hlt
    h: mov ecx, ebx
      pop edx
      hlt
    idt_desc: .dd (0x1000 << 16) | 0x7FF, 0x1000 >> 16
    .org 0x1000 + 8 * 0x20
      ${gate('h')}`,
      [{ at: 0, kind: 'irq', vector: 0x20 }],
    );
    expect(vectors(obs)).toEqual([0x20]);
    expect([obs.regs.eax, obs.regs.ecx, obs.regs.edx]).toEqual([0x32335856, 0, 0x20]);
  }
});
