// DESIGN §3.5 — paging: walks, 4 MiB pages, reserved bits, permission composition,
// CR0.WP, A/D bits, straddling and wrapping accesses, #PF error codes and CR2, and
// when CR3/PG/PSE changes take effect. §3.6: no TLB.
// #PF error code (§3.5.6, SDM 4.7): bit 0 P (protection), 1 W, 2 U, 3 RSVD.
import { describe, expect, test } from 'vitest';
import {
  BOOT,
  DF,
  ESP0,
  GP,
  KSTACK,
  PAGING_ON,
  PAGING_ON_INSNS,
  PD,
  PF,
  PT0,
  PT1,
  PT2,
  TO_USER_INSNS,
  UD,
  USTACK,
  identity,
  kernel,
  pageTables,
  run,
  table,
  toUser,
  type KernelOptions,
  type PagingOptions,
} from './harness.ts';

const P = BOOT + PAGING_ON_INSNS; // icount at the first instruction after paging is on
const UP = P + TO_USER_INSNS; // icount at the first user instruction
const UCODE = 0x9000;
const PSE_ON = '    mov eax, 0x10\n    mov cr4, eax';

type Opts = PagingOptions & KernelOptions & { cr0?: number };

function pg(body: string, o: Opts = {}) {
  const on = o.cr0 === undefined ? PAGING_ON : PAGING_ON.replace('0x80000001', '0x' + o.cr0.toString(16));
  return run(kernel(`${on}\n${body}`, { ...o, extra: `${pageTables(o)}\n${o.extra ?? ''}` }));
}

/** Paging on, then ring 3 at UCODE running `code`. */
function pgUser(code: string, o: Opts = {}) {
  return pg(toUser('user'), { ...o, extra: `.org ${UCODE}\nuser:\n${code}\n${o.extra ?? ''}` });
}

const pf = (icount: number, errorCode: number, cr2: number, eip: number) => ({
  icount,
  kind: 'exception',
  vector: PF,
  errorCode,
  cr2,
  eip,
});

const DATA = '.org 0x60000\n    .dd 0xAAAA\n.org 0x61000\n    .dd 0xBBBB';

describe('§3.5 not-present entries', () => {
  test('PTE not present, supervisor read → #PF(0), CR2 = la', () => {
    const r = pg('f:  mov eax, [0x400010]');
    expect(r.trace).toEqual([pf(P, 0, 0x400010, r.sym('f'))]); // P=0 W=0 U=0
    expect(r.cr2).toBe(0x400010);
    expect(r.r32(PD + 4)).toBe(PT1 | 7); // §3.5.5: a faulting walk sets no A
  });

  test('PDE not present → #PF(0)', () => {
    const r = pg('f:  mov eax, [0xC00123]');
    expect(r.trace).toEqual([pf(P, 0, 0xc00123, r.sym('f'))]);
  });

  test('supervisor write to a not-present page → #PF(W)', () => {
    const r = pg('f:  mov [0x400000], eax');
    expect(r.trace).toEqual([pf(P, 2, 0x400000, r.sym('f'))]);
  });

  test('user read / write of a not-present page → #PF(U) / #PF(W|U)', () => {
    expect(pgUser('    mov eax, [0x400000]').trace).toEqual([pf(UP, 4, 0x400000, UCODE)]);
    expect(pgUser('    mov [0x400004], eax').trace).toEqual([pf(UP, 6, 0x400004, UCODE)]);
  });

  test('byte access to a not-present page', () => {
    const r = pg('f:  mov byte [0x400FFF], al');
    expect(r.trace).toEqual([pf(P, 2, 0x400fff, r.sym('f'))]);
  });

  test('a not-present PDE with reserved bits set is just not present', () => {
    const r = pg(`${PSE_ON}\nf:  mov eax, [0x860000]`, { pde: { 2: 0x2086 } }); // P = 0: step 1 faults first
    expect(r.trace).toEqual([pf(P + 2, 0, 0x860000, r.sym('f'))]);
  });
});

describe('§3.5 permissions: PDE ∧ PTE, CR0.WP', () => {
  test('user read of a supervisor page → #PF(P|U)', () => {
    const r = pgUser('    mov eax, [0x400000]', { pt1: { 0: 0x60003 } });
    expect(r.trace).toEqual([pf(UP, 5, 0x400000, UCODE)]);
    expect(r.r32(PT1)).toBe(0x60003); // no A on a faulting translation
  });

  test('user write of a supervisor page → #PF(P|W|U)', () => {
    expect(pgUser('    mov [0x400000], eax', { pt1: { 0: 0x60003 } }).trace).toEqual([pf(UP, 7, 0x400000, UCODE)]);
  });

  test('user write of a read-only user page → #PF(P|W|U); user read succeeds', () => {
    const w = pgUser('    mov [0x400000], eax', { pt1: { 0: 0x60005 } });
    expect(w.trace).toEqual([pf(UP, 7, 0x400000, UCODE)]);
    expect(w.r32(PT1)).toBe(0x60005);
    expect(w.r32(PD + 4)).toBe(PT1 | 7); // §3.5.5: no A/D anywhere on a faulting translation
    const rd = pgUser('    mov ebx, [0x400000]\n    hlt', { pt1: { 0: 0x60005 }, extra: DATA });
    expect(rd.regs.ebx).toBe(0xaaaa);
    expect(rd.trace).toEqual([{ icount: UP + 1, kind: 'exception', vector: GP, errorCode: 0, eip: UCODE + 8 }]);
  });

  test('PDE.US = 0 makes a user PTE supervisor-only', () => {
    const r = pgUser('    mov eax, [0x400000]', { pde: { 1: PT1 | 3 }, pt1: { 0: 0x60007 } });
    expect(r.trace).toEqual([pf(UP, 5, 0x400000, UCODE)]); // user-accessible = PDE.US ∧ PTE.US
  });

  test('PDE.RW = 0 makes a writable PTE read-only for user', () => {
    const r = pgUser('    mov [0x400000], eax', { pde: { 1: PT1 | 5 }, pt1: { 0: 0x60007 } });
    expect(r.trace).toEqual([pf(UP, 7, 0x400000, UCODE)]); // writable = PDE.RW ∧ PTE.RW
  });

  test('supervisor write to a read-only page succeeds with WP = 0 (and sets D)', () => {
    const r = pg('    mov ebx, 0x1234\n    mov [0x400000], ebx\n    hlt', { pt1: { 0: 0x60001 } });
    expect(r.trace).toEqual([]);
    expect(r.r32(0x60000)).toBe(0x1234);
    expect(r.r32(PT1)).toBe(0x60061); // A | D (§3.5.5)
  });

  test('supervisor write to a read-only PTE with WP = 1 → #PF(P|W)', () => {
    const r = pg('f:  mov [0x400000], ebx', { pt1: { 0: 0x60001 }, cr0: 0x80010001 });
    expect(r.trace).toEqual([pf(P, 3, 0x400000, r.sym('f'))]);
    expect(r.r32(PT1)).toBe(0x60001);
  });

  test('supervisor write through a read-only PDE: allowed with WP = 0, #PF(P|W) with WP = 1', () => {
    const ok = pg('    mov [0x400000], ebx\n    hlt', { pde: { 1: PT1 | 5 }, pt1: { 0: 0x60007 } });
    expect(ok.trace).toEqual([]);
    const bad = pg('f:  mov [0x400000], ebx', { pde: { 1: PT1 | 5 }, pt1: { 0: 0x60007 }, cr0: 0x80010001 });
    expect(bad.trace).toEqual([pf(P, 3, 0x400000, bad.sym('f'))]);
  });

  test('supervisor accesses ignore US', () => {
    const r = pg('    mov eax, [0x400000]\n    hlt', { pde: { 1: PT1 | 3 }, pt1: { 0: 0x60003 }, extra: DATA });
    expect(r.regs.eax).toBe(0xaaaa);
  });

  test('a user fetch from a supervisor page → #PF(P|U), eip = CR2 = target', () => {
    const r = pgUser('    jmp 0x400000', { pt1: { 0: 0x60003 } });
    expect(r.trace).toEqual([pf(UP + 1, 5, 0x400000, 0x400000)]); // fetches are checked as reads
  });

  test('a fetch from a read-only page succeeds and sets A only', () => {
    const r = pg('    jmp 0x400000', { pt1: { 0: 0x60005 }, extra: '.org 0x60000\n    mov eax, 5\n    hlt' });
    expect(r.regs.eax).toBe(5);
    expect(r.r32(PT1)).toBe(0x60025); // fetch = read access: A, no D
  });

  test('user-mode delivery pushes are supervisor accesses (U = 0 pages OK)', () => {
    // ESP0 stack page 0x2F, IDT and TSS page 0x7 are supervisor-only.
    const r = pgUser('    ud2', { pt0: { 0x2f: 0x2f003, 7: 0x7003 } });
    expect(r.trace).toEqual([{ icount: UP, kind: 'exception', vector: UD, eip: UCODE }]);
    expect(r.r32(ESP0 - 8)).toBe(USTACK);
  });
});

describe('§3.5 4 MiB pages (CR4.PSE)', () => {
  test('PSE on: a PS PDE maps 4 MiB at PDE & 0xFFC00000; PSE off: PS is ignored', () => {
    const extra = `${DATA}\n.org 0x180\n    .dd 0x61007`; // PTE 0x60 of a table at phys 0
    const on = pg(`${PSE_ON}\n    mov eax, [0x860000]\n    hlt`, { pde: { 2: 0x87 }, extra });
    expect(on.regs.eax).toBe(0xaaaa); // 0x860000 & 0x3FFFFF = 0x60000
    expect(on.r32(PD + 8)).toBe(0xa7); // PDE |= A
    const off = pg('    mov eax, [0x860000]\n    hlt', { pde: { 2: 0x87 }, extra });
    expect(off.regs.eax).toBe(0xbbbb); // PT at 0, PTE[(0x860000>>>12)&0x3FF = 0x60] = 0x61007
    expect(off.r32(0x180)).toBe(0x61027);
  });

  test('a write through a 4 MiB page sets A and D in the PDE', () => {
    const r = pg(`${PSE_ON}\n    mov [0x860004], eax\n    hlt`, { pde: { 2: 0x87 } });
    expect(r.r32(PD + 8)).toBe(0xe7);
    expect(r.r32(0x60004)).toBe(0x10); // eax = 0x10 from PSE_ON
  });

  test.each([
    ['bit 13', 0x2087],
    ['bit 17', 0x20087],
    ['bit 21', 0x200087],
  ])('reserved %s in a PS PDE → #PF(P|RSVD)', (_n, pde) => {
    const r = pg(`${PSE_ON}\nf:  mov eax, [0x860000]`, { pde: { 2: pde } });
    expect(r.trace).toEqual([pf(P + 2, 0x9, 0x860000, r.sym('f'))]); // §3.10.1: P = 1, RSVD = 1
    expect(r.r32(PD + 8)).toBe(pde); // no A
  });

  test('RSVD with W and U', () => {
    const w = pg(`${PSE_ON}\nf:  mov [0x860000], eax`, { pde: { 2: 0x2087 } });
    expect(w.trace).toEqual([pf(P + 2, 0xb, 0x860000, w.sym('f'))]); // P|W|RSVD
    const u = pg(`${PSE_ON}\n${toUser('user')}`, { pde: { 2: 0x2087 }, extra: `.org ${UCODE}\nuser: mov eax, [0x860000]` });
    expect(u.trace).toEqual([pf(P + 2 + TO_USER_INSNS, 0xd, 0x860000, UCODE)]); // P|U|RSVD
  });

  test('bits 12 and 22 are not reserved', () => {
    const r = pg(`${PSE_ON}\n    mov eax, [0x860000]\n    mov ebx, [0xC60000]\n    hlt`, { pde: { 2: 0x1087, 3: 0x400087 }, extra: DATA });
    expect(r.trace).toEqual([]);
    expect(r.regs.eax).toBe(0xaaaa); // frame 0x1087 & 0xFFC00000 = 0
    expect(r.regs.ebx).toBe(0xffffffff); // frame 0x400000: beyond 1 MiB of RAM → open bus
  });

  test('4 MiB permissions come from the PDE alone', () => {
    const r = pg(`${PSE_ON}\n${toUser('user')}`, { pde: { 2: 0x83 }, extra: `.org ${UCODE}\nuser: mov eax, [0x860000]` });
    expect(r.trace).toEqual([pf(P + 2 + TO_USER_INSNS, 5, 0x860000, UCODE)]);
    const w = pg(`${PSE_ON}\n${toUser('user')}`, { pde: { 2: 0x85 }, extra: `.org ${UCODE}\nuser: mov [0x860000], eax` });
    expect(w.trace).toEqual([pf(P + 2 + TO_USER_INSNS, 7, 0x860000, UCODE)]);
  });

  test('toggling CR4.PSE takes effect at the next access', () => {
    const r = pg(`${PSE_ON}\n    mov eax, [0x860000]\n    mov ecx, 0\n    mov cr4, ecx\n    mov ebx, [0x860000]\n    hlt`, {
      pde: { 2: 0x87 },
      extra: `${DATA}\n.org 0x180\n    .dd 0x61007`,
    });
    expect([r.regs.eax, r.regs.ebx]).toEqual([0xaaaa, 0xbbbb]);
  });
});

describe('§3.5.5 accessed and dirty bits', () => {
  test('a read sets PDE.A and PTE.A, not D', () => {
    const r = pg('    mov eax, [0x400000]\n    hlt', { pt1: { 0: 0x60007 }, extra: DATA });
    expect(r.regs.eax).toBe(0xaaaa);
    expect(r.r32(PD + 4)).toBe(PT1 | 0x27);
    expect(r.r32(PT1)).toBe(0x60027);
  });

  test('a write sets PTE.A and PTE.D; PDE gets A only', () => {
    const r = pg('    mov [0x400000], eax\n    hlt', { pt1: { 0: 0x60007 } });
    expect(r.r32(PD + 4)).toBe(PT1 | 0x27);
    expect(r.r32(PT1)).toBe(0x60067);
  });

  test('code fetch and stack writes set A / D in the identity table', () => {
    const r = pg('    push eax\n    hlt');
    expect(r.r32(PT0 + 4)).toBe(0x1027); // code page 1: fetched (A), never written
    expect(r.r32(PT0 + 4 * 0x1f)).toBe(0x1f067); // stack page 0x1F (KSTACK - 4): A | D
    expect(r.r32(PT0 + 4 * 0x2)).toBe(0x2007); // untouched page 2: no A
  });

  test('each A/D update is a read-modify-write of the current word (recursive PDE)', () => {
    // PDE[1] = PD|7: for la 0x401000 the PTE is PDE[1] itself (maps the PD page). A write:
    // PDE |= A, then PTE |= A|D on the word as it is now → 0x50067 (neither update lost).
    const r = pg('    mov ebx, 0x5A5A\n    mov [0x401100], ebx\n    hlt', { pde: { 1: PD | 7 } });
    expect(r.trace).toEqual([]);
    expect(r.r32(PD + 4)).toBe(PD | 0x67);
    expect(r.r32(PD + 0x100)).toBe(0x5a5a);
  });

  test('no TLB: a PTE write is seen by the very next access (§3.6)', () => {
    const r = pg('    mov eax, [0x400000]\n    mov ecx, 0x61007\n    mov [0x52000], ecx\n    mov ebx, [0x400000]\n    hlt', {
      pt1: { 0: 0x60007 },
      extra: DATA,
    });
    expect([r.regs.eax, r.regs.ebx]).toEqual([0xaaaa, 0xbbbb]);
    expect(r.r32(PT1)).toBe(0x61027); // A set again on the new word by the second read
  });

  test('invlpg of an unmapped address does not fault', () => {
    const r = pg('    invlpg [0xC00000]\n    hlt');
    expect(r.trace).toEqual([]);
  });
});

describe('§3.5 straddling and wrapping accesses', () => {
  test('a read straddling two pages uses both frames', () => {
    const r = pg('    mov eax, [0x400FFE]\n    hlt', {
      pt1: { 0: 0x60007, 1: 0x62007 },
      extra: '.org 0x60FFE\n    .db 0x11, 0x22\n.org 0x62000\n    .db 0x33, 0x44',
    });
    expect(r.regs.eax).toBe(0x44332211);
    expect(r.r32(PT1)).toBe(0x60027);
    expect(r.r32(PT1 + 4)).toBe(0x62027);
  });

  test('second page not present: CR2 = its first byte, no byte written, first page A|D set', () => {
    const r = pg('    mov ebx, 0x11223344\nf:  mov [0x400FFE], ebx', { pt1: { 0: 0x60007 } });
    expect(r.trace).toEqual([pf(P + 1, 2, 0x401000, r.sym('f'))]); // §3.5.6
    expect(r.r32(0x60ffc)).toBe(0); // §3.5: translate all pages, then perform the bytes
    expect(r.r32(PT1)).toBe(0x60067); // §3.4: A/D of successful translations stay
    expect(r.r32(PT1 + 4)).toBe(0);
  });

  test('first page not present: CR2 = la, the second page is not translated', () => {
    const r = pg('f:  mov [0x400FFE], ebx', { pt1: { 1: 0x61007 } });
    expect(r.trace).toEqual([pf(P, 2, 0x400ffe, r.sym('f'))]);
    expect(r.r32(PT1 + 4)).toBe(0x61007);
  });

  test('second page read-only for a user write: #PF(P|W|U) at the page start', () => {
    const r = pgUser('    mov [0x400FFC + 2], eax', { pt1: { 0: 0x60007, 1: 0x61005 } });
    expect(r.trace).toEqual([pf(UP, 7, 0x401000, UCODE)]);
    expect(r.r32(PT1)).toBe(0x60067);
    expect(r.r32(PT1 + 4)).toBe(0x61005);
  });

  test('an instruction fetch straddling into a not-present page', () => {
    const r = pg('    jmp 0x400FFC', { pt1: { 0: 0x60007 } });
    expect(r.trace).toEqual([pf(P + 1, 0, 0x401000, 0x400ffc)]); // fetch = 8-byte read; eip = the instruction
  });

  test('a wrapping access translates 0xFFFFF000 then page 0 (§3.10.12)', () => {
    const r = pg('f:  mov eax, [0xFFFFFFFE]', {
      pde: { 1023: PT2 | 7 },
      pt2: { 1023: 0x63007 },
      pt0: { 0: 0 },
    });
    expect(r.trace).toEqual([pf(P, 0, 0, r.sym('f'))]); // CR2 = first byte of the later page (0)
    expect(r.r32(PT2 + 4 * 1023)).toBe(0x63027); // first translation succeeded
  });

  test('a wrapping access with both pages present', () => {
    const r = pg('    mov eax, [0xFFFFFFFE]\n    hlt', {
      pde: { 1023: PT2 | 7 },
      pt2: { 1023: 0x63007 },
      extra: '.org 0x63FFE\n    .db 0x11, 0x22\n.org 0x0\n    .db 0x33, 0x44',
    });
    expect(r.regs.eax).toBe(0x44332211);
  });
});

describe('§3.5 faulting instructions have no effect', () => {
  test('pop from a not-present page: esp and the register unchanged', () => {
    const r = pgUser('    mov esp, 0x400000\n    mov eax, 7\n    pop eax');
    expect(r.trace).toEqual([pf(UP + 2, 4, 0x400000, UCODE + 16)]);
    expect(r.regs.eax).toBe(7);
    expect(r.r32(ESP0 - 8)).toBe(0x400000); // saved user esp
  });

  test('call whose push faults: no jump, esp unchanged', () => {
    const r = pgUser('    mov esp, 0x400000\n    call 0x9100');
    // push at 0x3FFFFC: PT0[0x3FF] is 0 (only 256 identity entries) → #PF(W|U)
    expect(r.trace).toEqual([pf(UP + 1, 6, 0x3ffffc, UCODE + 8)]);
    expect(r.r32(ESP0 - 8)).toBe(0x400000);
  });

  test('iret whose eflags pop faults: no state change', () => {
    const r = pgUser('    mov esp, 0x400FF8\n    iret', {
      pt1: { 0: 0x60007 },
      extra: '.org 0x60FF8\n    .dd 0x9100, 0x3B',
    });
    expect(r.trace).toEqual([pf(UP + 1, 4, 0x401000, UCODE + 8)]); // third pop at 0x401000
    expect(r.r32(ESP0 - 8)).toBe(0x400ff8); // esp before the iret
    expect(r.r32(ESP0 - 16)).toBe(0x3b); // still cpl 3
  });

  test('lidt of an unmapped operand at cpl 3 is #GP(0), not #PF (privilege first)', () => {
    const r = pgUser('    lidt [0xC00000]');
    expect(r.trace).toEqual([{ icount: UP, kind: 'exception', vector: GP, errorCode: 0, eip: UCODE }]);
  });
});

describe('§3.5 CR3 and CR0.PG changes take effect at the next fetch', () => {
  test('mov cr3: the next instruction is fetched through the new tables', () => {
    const pd2 = table(0x54000, { 0: 0x55007 });
    const pt2 = table(0x55000, { ...identity(), 3: 0x70007 });
    const r = pg('    mov ebx, 0x54000\n    jmp sw', {
      extra: `${pd2}\n${pt2}\n.org 0x3000\nsw: mov cr3, ebx\n    mov eax, 1\n    hlt\n.org 0x70008\n    mov eax, 2\n    hlt`,
    });
    expect(r.regs.eax).toBe(2);
    expect(r.cr3).toBe(0x54000);
  });

  test('setting CR0.PG: the next fetch is translated', () => {
    const r = run(
      kernel('    jmp sw', {
        extra: [
          pageTables({ pt0: { 3: 0x70007 } }),
          '.org 0x3000',
          `sw: mov eax, ${PD}`,
          '    mov cr3, eax',
          '    mov eax, 0x80000001',
          '    mov cr0, eax',
          '    mov ecx, 1', // 0x3020, physical: not reached
          '    hlt',
          '.org 0x70020',
          '    mov ecx, 2',
          '    hlt',
        ].join('\n'),
      }),
    );
    expect(r.regs.ecx).toBe(2);
  });

  test('clearing CR0.PG: the next fetch is physical', () => {
    const r = pg('    jmp 0x3000', {
      pt0: { 3: 0x70007 },
      extra: '.org 0x70000\n    mov eax, 1\n    mov cr0, eax\n    mov ecx, 2\n    hlt\n.org 0x3010\n    mov ecx, 1\n    hlt',
    });
    expect(r.regs.ecx).toBe(1);
    expect(r.cr0).toBe(1);
  });
});

describe('§3.7 faults during delivery under paging', () => {
  test('#UD whose gate is on a not-present page → #PF delivered instead (benign + #PF)', () => {
    // base 0x7FC0: gate 6 at 0x7FF0 (page 7, not present), gate 14 at 0x8030 (page 8).
    const r = pg('f:  ud2', { pt0: { 7: 0 }, idtBase: 0x7fc0, idtAt: 0x7fc0 });
    expect(r.trace).toEqual([pf(P, 0, 0x7ff0, r.sym('f'))]); // IDT read: supervisor read, not present
  });

  test('from cpl 3 the IDT read is still a supervisor access (U = 0)', () => {
    const r = pg(
      '    mov eax, 0x9F00\n    ltr eax\n    push 0x43\n    push 0x40000\n    push 0x2\n    push 0x3B\n    push user\n    iret',
      {
        pt0: { 7: 0 },
        idtBase: 0x7fc0,
        idtAt: 0x7fc0,
        extra: `.org ${UCODE}\nuser: ud2\n.org 0x9F00\n    .dd 0, ${ESP0}`,
      },
    );
    expect(r.trace).toEqual([pf(UP, 0, 0x7ff0, UCODE)]);
    expect(r.r32(ESP0 - 24)).toBe(0); // error code pushed
  });

  test('#GP whose gate is on a not-present page → #PF delivered (contributory + #PF)', () => {
    // base 0x7F90: gate 13 at 0x7FF8 (page 7), gate 14 at 0x8000 (page 8).
    const r = pg('    mov eax, 0\nf:  mov cr0, eax', { pt0: { 7: 0 }, idtBase: 0x7f90, idtAt: 0x7f90 });
    expect(r.trace).toEqual([pf(P + 1, 0, 0x7ff8, r.sym('f'))]);
  });

  test('#PF whose gate faults with #PF → #DF (error code 0); CR2 = the last #PF address', () => {
    // base 0x7F90: gate 8 at 0x7FD0 (page 7, present), gate 14 at 0x8000 (page 8, not present).
    const r = pg('f:  mov eax, [0x400000]', { pt0: { 8: 0 }, idtBase: 0x7f90, idtAt: 0x7f90 });
    expect(r.trace).toEqual([{ icount: P, kind: 'exception', vector: DF, errorCode: 0, eip: r.sym('f') }]); // §3.10.4
    expect(r.cr2).toBe(0x8000); // §3.10.2: written at each detection
    expect(r.r32(KSTACK - 16)).toBe(0); // #DF error code 0
    expect(r.r32(KSTACK - 12)).toBe(r.sym('f'));
  });

  test('#PF whose gate is bad → #DF; CR2 still written (§3.10.2)', () => {
    const r = pg('f:  mov eax, [0x400000]', { gates: { [PF]: { type: 0x6 } } });
    expect(r.trace).toEqual([{ icount: P, kind: 'exception', vector: DF, errorCode: 0, eip: r.sym('f') }]);
    expect(r.cr2).toBe(0x400000);
  });

  test('delivery pushes fault midway: earlier writes stay; #PF, #PF → #DF → shutdown', () => {
    // esp = 0x401008: eflags → 0x401004 and CS → 0x401000 (page 0x401 present), eip →
    // 0x400FFC (not present) → #PF(W) cr2 0x400FFC; delivering it fails the same way → #DF;
    // delivering #DF fails again → triple fault.
    const r = pg('    mov esp, 0x401008\nf:  ud2', { pt1: { 1: 0x61007 } });
    expect(r.status).toBe('shutdown');
    expect(r.trace).toEqual([{ icount: P + 1, kind: 'shutdown', chain: [UD, PF, DF, PF] }]); // a #PF hit each delivery
    expect(r.cr2).toBe(0x400ffc);
    expect(r.r32(0x61004)).toBe(0x2); // eflags written before the fault
    expect(r.r32(0x61000)).toBe(0x08); // CS
    expect(r.r32(PT1 + 4)).toBe(0x61067);
  });

  test('CR2 is written only by #PF', () => {
    const r = pg('    mov eax, 0x1234\n    mov cr2, eax\nf:  ud2');
    expect(r.trace).toEqual([{ icount: P + 2, kind: 'exception', vector: UD, eip: r.sym('f') }]); // no cr2 in a non-#PF entry
    expect(r.cr2).toBe(0x1234);
  });
});

describe('§3.2 with §3.5: the device is reached by physical address', () => {
  test('an aligned access through a page mapped onto the MMIO window reaches the device', () => {
    const r = pg(
      '    mov eax, [0x400004]\n    mov ebx, [0x400004]\n    mov ecx, [0x400000]\n    mov [0x400008], ebx\n    movzx edx, byte [0x400004]\n    hlt',
      {
        pt1: { 0: 0xfee00007 },
      },
    );
    expect([r.regs.eax, r.regs.ebx]).toEqual([0, 1]); // COUNTER read-then-increment
    expect(r.regs.ecx).toBe(0x32335856); // ID
    expect(r.regs.edx).toBe(0xff); // byte access: open bus
    expect(r.device).toEqual({ counter: 2, log: [1] });
    expect(r.r32(PT1)).toBe(0xfee00067); // the PTE lives in RAM: A and D set
  });
});
