// Dirty-bit emulation in the shadow MMU (DESIGN §6.6, S2; §3.5.5): a page first read and
// only later written must get its D bit at the write — for 4 KiB pages, for 4 MiB pages
// (the D bit is in the gpde, and the split shadow table must stay write-protected until
// it is set), and for read-only pages a supervisor writes with CR0.WP = 0. Expected
// entries are composed by hand from the bit positions of §3.5 (P 0, RW 1, US 2, A 5,
// D 6, PS 7); each run is also compared with the spec and audited after every exit.

import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { diffObservations } from '../../properties/lockstep/compare.ts';

const RAM = 0x100000;
const PD = 0x10000;
const PT = 0x11000;
const [P, RW, US, A, D, PS] = [1, 2, 4, 0x20, 0x40, 0x80];

/** PDE 0: the table at PT, identity for 1 MiB with `pte(page)` flags; PDE 1 `pde1`; paging on with CR0.WP = `wp`. */
function program(body: string, pde1: number, wp: boolean, pteFlags: (page: number) => number): string {
  const ptes = Array.from({ length: 256 }, (_, i) => `.dd ${(i << 12) | pteFlags(i)}`).join('\n');
  return `
  mov eax, ${PT | P | RW | US | A}
  mov [${PD}], eax
  mov eax, ${pde1}
  mov [${PD + 4}], eax
  mov eax, 0x10
  mov cr4, eax            ; PSE
  mov eax, ${PD}
  mov cr3, eax
  mov eax, ${wp ? 0x80010001 : 0x80000001}
  mov cr0, eax
${body}
  hlt
.org ${PT}
${ptes}
`;
}

function run(src: string) {
  const { image } = assemble(src, 'dirty.s');
  const e = new VmxShadowEngine(image, { ramBytes: RAM }, { auditEveryExit: true });
  const got = e.run([], 10_000);
  expect(diffObservations(new SpecMachine(image, { ramBytes: RAM }).run([], 10_000), got)).toEqual([]);
  expect(got.status).toBe('halted');
  return got;
}

// Code and the tables live in pages 0x00–0x1F (A and D preset there, so only the data
// pages' bits change); the data pages 0x80 and 0x81 start with neither.
const preset = (page: number): number => (page < 0x20 ? P | RW | A | D : P | RW);

test('4 KiB page: a read sets A only, the later write sets D', () => {
  const o = run(
    program(
      `
  mov ebx, [0x80000]
  mov ecx, [${PT + 4 * 0x80}]   ; A, not D
  mov [0x80004], ebx
  mov edx, [${PT + 4 * 0x80}]   ; A and D
`,
      0,
      true,
      preset,
    ),
  );
  expect(o.regs.ecx).toBe(0x80000 | P | RW | A);
  expect(o.regs.edx).toBe(0x80000 | P | RW | A | D);
});

test("4 MiB page: a read sets the gpde's A, the later write its D", () => {
  // PDE 1 maps 0x400000–0x7FFFFF onto physical 0–4 MiB; 0x480000 is physical 0x80000.
  const o = run(
    program(
      `
  mov ebx, [0x480000]
  mov ecx, [${PD + 4}]          ; A, not D
  mov [0x480004], ebx
  mov edx, [${PD + 4}]          ; A and D
  mov [0x480008], ebx           ; dirty now: no change
  mov esi, [0x80008]            ; the write went to physical 0x80008
`,
      P | RW | PS,
      true,
      preset,
    ),
  );
  expect(o.regs.ecx).toBe(P | RW | PS | A);
  expect(o.regs.edx).toBe(P | RW | PS | A | D);
  expect(o.regs.esi).toBe(o.regs.ebx);
});

test('two gpdes map one 4 MiB page: a write through the clean one still sets its D', () => {
  // PDEs 1 and 2 both map physical 0–4 MiB; a write through PDE 1 makes PDE 1 dirty only,
  // so the shadow of the page must not stay writable for writes through PDE 2.
  const o = run(
    program(
      `
  mov eax, ${P | RW | PS}
  mov [${PD + 8}], eax
  mov ebx, [0x880000]           ; through PDE 2: A
  mov [0x480000], ebx           ; through PDE 1: A and D
  mov [0x880004], ebx           ; through PDE 2: now D
  mov ecx, [${PD + 4}]
  mov edx, [${PD + 8}]
`,
      P | RW | PS,
      true,
      preset,
    ),
  );
  expect(o.regs.ecx).toBe(P | RW | PS | A | D);
  expect(o.regs.edx).toBe(P | RW | PS | A | D);
});

test('a clean gpde linking a shadow table a dirty one made writable: its first write still sets its D', () => {
  // The write through PDE 1 leaves the shared split table's leaf for page 0x80 writable;
  // PDE 2, still clean, then links the same table (a read of page 0x81), so its leaves
  // must lose write permission until PDE 2 is dirty too.
  const o = run(
    program(
      `
  mov eax, ${P | RW | PS}
  mov [${PD + 8}], eax
  mov ebx, 0x55
  mov [0x480000], ebx           ; through PDE 1: A and D, leaf 0x80 writable
  mov ecx, [0x881000]           ; through PDE 2: A
  mov ecx, [${PD + 8}]
  mov [0x880000], ebx           ; through PDE 2, page 0x80: D
  mov edx, [${PD + 8}]
`,
      P | RW | PS,
      true,
      preset,
    ),
  );
  expect(o.regs.ecx).toBe(P | RW | PS | A);
  expect(o.regs.edx).toBe(P | RW | PS | A | D);
});

test('CR0.WP = 0: a supervisor read, then a supervisor write to a read-only page sets D and lands', () => {
  // Page 0x80 is read-only (RW = 0) and supervisor-only; with WP = 0 ring 0 may write it (§3.5.4).
  const o = run(
    program(
      `
  mov ebx, [0x80000]
  mov ecx, [${PT + 4 * 0x80}]   ; A, not D
  mov eax, 0x1234
  mov [0x80000], eax
  mov edx, [${PT + 4 * 0x80}]   ; A and D
  mov esi, [0x80000]
`,
      0,
      false,
      (page) => (page < 0x20 ? P | RW | A | D : P),
    ),
  );
  expect(o.regs.ecx).toBe(0x80000 | P | A);
  expect(o.regs.edx).toBe(0x80000 | P | A | D);
  expect(o.regs.esi).toBe(0x1234);
  expect(o.trace).toEqual([]);
});

test('CR0.WP = 0 on a read-only user page: ring 0 writes, ring 3 reads, ring 0 writes again', () => {
  // The host runs with WP = 1, so the supervisor's write maps the page supervisor-only
  // writable, and the user's read maps it back user read-only: the spte loses RW and the
  // TLB must forget it (S6), or the next supervisor write would skip the VMM. The user
  // returns with `int 0x80` (a DPL-3 trap gate; ESP0 from the TSS).
  const o = run(
    program(
      `
  lidt [idt_desc]
  mov eax, tss
  ltr eax
  mov eax, 0x11
  mov [0x80000], eax            ; ring 0 write: allowed with WP = 0, sets D
  mov esp, 0x8000
  push 0x43
  push 0x7000
  push 0x2
  push 0x3B
  push user
  iret
user:
  mov ebx, [0x80000]            ; ring 3 read: allowed (US)
  int 0x80
back:
  mov eax, 0x22
  mov [0x80004], eax            ; ring 0 write again
  mov ecx, [0x80000]
  mov edx, [0x80004]
  mov esi, [${PT + 4 * 0x80}]
  hlt
.align 8
tss: .dd 0, 0x9000
idt_desc: .db 0xFF, 0x07
  .dd idt
.align 8
idt:
  .zero 0x80 * 8
  .dd (back & 0xFFFF) | 0x80000, (back & 0xFFFF0000) | 0xEF00
  .zero (256 - 0x81) * 8
`,
      0,
      false,
      (page) => (page < 0x20 ? P | RW | US | A | D : P | US),
    ),
  );
  expect([o.regs.ebx, o.regs.ecx, o.regs.edx]).toEqual([0x11, 0x11, 0x22]);
  expect(o.regs.esi).toBe(0x80000 | P | US | A | D);
  expect(o.cpl).toBe(0);
});
