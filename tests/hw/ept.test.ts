// EPT (DESIGN §4; format in src/hw/ept.ts): gpa→hpa for every guest-physical access,
// violations and misconfigurations with their exit information (SDM vol. 3C Table 27-7
// layout, written out by hand), the 2-D walk's reference count (n+1)(m+1)−1 = 8, guest
// A/D writes through the EPT, delivery interrupted by a violation, and invept.

import { describe, expect, test } from 'vitest';
import type { PhysMem } from '../../src/hw/memory.ts';
import type { Vmcs } from '../../src/hw/vmcs.ts';
import { A, D, host, identityTables, P, RW, rd32, US, vmcsAt, writeGate, wr32 } from './helpers.ts';

const OFFSET = 0x100000; // guest RAM gpa [0, 256 KiB) lives at hpa [1 MiB, 1.25 MiB)
const GUEST_PAGES = 64;
const EPT_DIR = 0x1f0000;
const EPT_TABLE = 0x1f1000; // gpa [0, 4 MiB)
const EPT_TABLE_MMIO = 0x1f2000; // gpa [0xFEC00000, 0xFF000000)

// EPT entry bits (ept.ts): R W X.
const R = 1;
const W = 2;
const X = 4;

// Exit qualification bits for EPT violations (SDM Table 27-7).
const Q_READ = 1;
const Q_WRITE = 2;
const Q_FETCH = 4;
const Q_GLA = 0x80;
const Q_FINAL = 0x100;

function eptMap(mem: PhysMem, gpa: number, hpa: number, perms: number): void {
  const table = gpa >>> 22 === 0 ? EPT_TABLE : EPT_TABLE_MMIO;
  wr32(mem, EPT_DIR + 4 * (gpa >>> 22), table | R | W | X);
  wr32(mem, table + 4 * ((gpa >>> 12) & 0x3ff), ((hpa & ~0xfff) | perms) >>> 0);
}

function guest(source: string, configure: (v: Vmcs, mem: PhysMem) => void = () => {}) {
  const h = host(source, 2 << 20, OFFSET);
  for (let i = 0; i < GUEST_PAGES; i++) eptMap(h.mem, i << 12, OFFSET + (i << 12), R | W | X);
  const v = vmcsAt(h.symbols.get('start') ?? 0x1000);
  v.controls.eptEnabled = true;
  v.controls.eptPointer = EPT_DIR;
  v.controls.hltExiting = true;
  v.guest.regs[4] = 0x8000;
  configure(v, h.mem);
  return { ...h, v, at: (l: string): number => h.symbols.get(l)! };
}

/** Guest page tables in guest RAM (gpa 0x10000 / 0x11000), identity over guest RAM, paging on. */
function guestPaging(v: Vmcs, mem: PhysMem, pteBits = 0): void {
  identityTables(mem, OFFSET + 0x10000, OFFSET + 0x11000, GUEST_PAGES, 0x11000);
  for (let i = 0; i < GUEST_PAGES; i++) wr32(mem, OFFSET + 0x11000 + 4 * i, (i << 12) | P | RW | US | pteBits);
  v.guest.cr0 = 0x80000001;
  v.guest.cr3 = 0x10000;
}

describe('EPT translation', () => {
  test('guest-physical accesses land in the frames the EPT names, not at hpa = gpa', () => {
    const g = guest('.org 0x1000\nstart: mov eax, [0x3000]\n mov [0x3004], eax\n hlt');
    wr32(g.mem, OFFSET + 0x3000, 0x1234);
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.regs[0]).toBe(0x1234);
    expect(rd32(g.mem, OFFSET + 0x3004)).toBe(0x1234);
    expect(rd32(g.mem, 0x3004)).toBe(0);
    // Paging off: each TLB miss is one EPT translation, 2 references (directory, table).
    expect(g.cpu.mmu.walkRefs).toBe(2 * g.cpu.mmu.walks);
    expect(g.cpu.mmu.walks).toBe(2); // the code page and the data page
  });

  test('a read of an unmapped gpa is an EPT violation with gpa, gva and access kind', () => {
    const g = guest('.org 0x1000\nstart: nop\nf: mov eax, [0x50010]');
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('ept-violation');
    expect(e.guestPhysical).toBe(0x50010);
    expect(e.guestLinear).toBe(0x50010);
    expect(e.qualification).toBe(Q_READ | Q_GLA | Q_FINAL); // not present: no permissions
    expect(g.v.guest.eip).toBe(g.at('f'));
    expect(g.v.guest.icount).toBe(1);
    expect(g.vmx.exits['ept-violation']).toBe(1);
  });

  test('a write to a read-only page and a fetch from a no-execute page violate, with the permissions found', () => {
    const w = guest('.org 0x1000\nstart: mov [0x3008], eax', (_v, mem) => eptMap(mem, 0x3000, OFFSET + 0x3000, R | X));
    let e = w.vmx.vmenter(w.v, 100);
    expect(e.reason).toBe('ept-violation');
    expect(e.qualification).toBe(Q_WRITE | ((R | X) << 3) | Q_GLA | Q_FINAL);
    expect(e.guestPhysical).toBe(0x3008);

    const f = guest('.org 0x1000\nstart: jmp 0x4000', (_v, mem) => eptMap(mem, 0x4000, OFFSET + 0x4000, R | W));
    e = f.vmx.vmenter(f.v, 100);
    expect(e.reason).toBe('ept-violation');
    expect(e.qualification).toBe(Q_FETCH | ((R | W) << 3) | Q_GLA | Q_FINAL);
    expect(e.guestPhysical).toBe(0x4000);
    expect(f.v.guest.eip).toBe(0x4000); // the jmp retired; the fetch of its target exited
  });

  test('write-without-read and reserved bits are EPT misconfigurations', () => {
    const g = guest('.org 0x1000\nstart: mov eax, [0x5000]', (_v, mem) => eptMap(mem, 0x5000, OFFSET + 0x5000, W));
    let e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('ept-misconfig');
    expect(e.guestPhysical).toBe(0x5000);

    const r = guest('.org 0x1000\nstart: mov eax, [0x5000]', (_v, mem) => eptMap(mem, 0x5000, OFFSET + 0x5000, R | W | X | 0x100));
    e = r.vmx.vmenter(r.v, 100);
    expect(e.reason).toBe('ept-misconfig');
    expect(r.vmx.exits['ept-misconfig']).toBe(1);
  });

  test('MMIO: an unmapped device gpa exits for emulation; mapped through, the guest reaches the device', () => {
    const src = '.org 0x1000\nstart: mov eax, [0xfee00000]\n hlt';
    const u = guest(src);
    const e = u.vmx.vmenter(u.v, 100);
    expect(e.reason).toBe('ept-violation');
    expect(e.guestPhysical).toBe(0xfee00000);

    const m = guest(src, (_v, mem) => eptMap(mem, 0xfee00000, 0xfee00000, R | W));
    expect(m.vmx.vmenter(m.v, 100).reason).toBe('hlt');
    expect(m.v.guest.regs[0]).toBe(0x32335856); // DESIGN §3.2 ID
  });
});

describe('2-D walk (guest paging over EPT)', () => {
  const src = `
.org 0x1000
start: mov eax, [0x20000]
       mov eax, [0x21000]
       mov eax, [0x22000]
       mov eax, [0x23000]
       hlt`;

  test('every TLB miss costs (2+1)(2+1)−1 = 8 references: 6 EPT, 2 guest', () => {
    const g = guest(src, guestPaging);
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    const mmu = g.cpu.mmu;
    expect(mmu.walks).toBe(5); // code page + four data pages
    expect(mmu.walkRefs).toBe(8 * 5);
    expect(g.vmx.ept.refs).toBe(6 * 5);
    // Guest A bits were set through the EPT, in guest RAM.
    expect(rd32(g.mem, OFFSET + 0x11000 + 4 * 0x20) & A).toBe(A);
    expect(rd32(g.mem, OFFSET + 0x10000) & A).toBe(A);
  });

  test('a guest 4 MiB page costs (1+1)(2+1)−1 = 5 references per miss', () => {
    const g = guest(src, (v, mem) => {
      wr32(mem, OFFSET + 0x10000, 0x00000000 | 0x80 | P | RW | US); // PS: gpa [0, 4 MiB)
      v.guest.cr0 = 0x80000001;
      v.guest.cr3 = 0x10000;
      v.guest.cr4 = 0x10; // PSE
    });
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.cpu.mmu.walks).toBe(5);
    expect(g.cpu.mmu.walkRefs).toBe(5 * 5);
  });

  test('the same guest with gpa = hpa and no EPT: 2 references per miss', () => {
    const h = host(src);
    const v = vmcsAt(0x1000);
    v.controls.hltExiting = true;
    identityTables(h.mem, 0x10000, 0x11000, GUEST_PAGES);
    v.guest.cr0 = 0x80000001;
    v.guest.cr3 = 0x10000;
    expect(h.vmx.vmenter(v, 100).reason).toBe('hlt');
    expect(h.cpu.mmu.walkRefs).toBe(2 * h.cpu.mmu.walks);
  });

  test('a guest A/D write to a page table the EPT maps read-only is a violation at the PTE gpa', () => {
    const g = guest('.org 0x1000\nstart: f: mov eax, [0x20000]', (v, mem) => {
      guestPaging(v, mem, A | D);
      wr32(mem, OFFSET + 0x10000, 0x11000 | P | RW | US | A);
      wr32(mem, OFFSET + 0x11000 + 4 * 0x20, 0x20000 | P | RW | US); // A clear
      eptMap(mem, 0x11000, OFFSET + 0x11000, R | X);
    });
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('ept-violation');
    expect(e.guestPhysical).toBe(0x11000 + 4 * 0x20);
    expect(e.guestLinear).toBe(0x20000);
    expect(e.qualification).toBe(Q_WRITE | ((R | X) << 3) | Q_GLA); // bit 8 clear: a paging-structure access
    expect(rd32(g.mem, OFFSET + 0x11000 + 4 * 0x20) & A).toBe(0);
    expect(g.v.guest.eip).toBe(g.at('f'));
  });

  test('a guest #PF under EPT is the guest’s: delivered through its IDT with CR2', () => {
    const g = guest('.org 0x1000\nstart: f: mov eax, [0x400008]\n.org 0x1800\nhandler: hlt', guestPaging);
    writeGate(g.mem, OFFSET + 0x3000, 14, g.at('handler'));
    g.v.guest.idtrBase = 0x3000;
    g.v.guest.idtrLimit = 0x7ff;
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.trace).toEqual([{ icount: 0, kind: 'exception', vector: 14, errorCode: 0, cr2: 0x400008, eip: g.at('f') }]);
    expect(g.v.guest.cr2).toBe(0x400008);
  });
});

describe('EPT and event delivery', () => {
  test('a frame push to an EPT-unmapped stack exits with IDT-vectoring info; re-injection completes it', () => {
    const g = guest('.org 0x1000\nstart: nop\n.org 0x1800\nhandler: hlt', (v) => {
      v.guest.regs[4] = 0x60000; // gpa beyond what the EPT maps
      v.guest.idtrBase = 0x3000;
      v.guest.idtrLimit = 0x7ff;
      v.injection.set(0x40, 'external');
    });
    writeGate(g.mem, OFFSET + 0x3000, 0x40, g.at('handler'));
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('ept-violation');
    expect(e.guestPhysical).toBe(0x5fffc);
    expect(e.qualification).toBe(Q_WRITE | Q_GLA | Q_FINAL);
    expect(e.idtVectoring).toEqual({ vector: 0x40, kind: 'external', errorCode: null, instructionLength: 0 });
    expect(g.v.guest.trace).toEqual([]);

    eptMap(g.mem, 0x5f000, 0x160000, R | W | X);
    const iv = e.idtVectoring!;
    g.v.injection.set(iv.vector, iv.kind, iv.errorCode, iv.instructionLength);
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.trace).toEqual([{ icount: 0, kind: 'interrupt', vector: 0x40, eip: 0x1000 }]);
    expect(rd32(g.mem, 0x160000 + 0xff4)).toBe(0x1000); // the saved eip, in the new frame
  });
});

describe('invept', () => {
  test('the TLB caches gva→hpa: a changed EPT entry is invisible until invept', () => {
    const g = guest('.org 0x1000\nstart: mov eax, [0x3000]\n hlt');
    wr32(g.mem, OFFSET + 0x3000, 0xaaaa);
    wr32(g.mem, 0x150000, 0xbbbb);
    const again = (): number => {
      g.v.guest.eip = 0x1000;
      expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
      return g.v.guest.regs[0]!;
    };
    expect(again()).toBe(0xaaaa);
    eptMap(g.mem, 0x3000, 0x150000, R | W | X);
    expect(again()).toBe(0xaaaa); // stale, as on real hardware: the VMM forgot invept
    g.vmx.invept();
    expect(again()).toBe(0xbbbb);
    expect(g.vmx.invepts).toBe(1);
  });

  test('entering with another EPT pointer flushes', () => {
    const g = guest('.org 0x1000\nstart: mov eax, [0x3000]\n hlt');
    g.vmx.vmenter(g.v, 100);
    const flushes = g.vmx.entryFlushes;
    g.v.guest.eip = 0x1000;
    g.v.controls.eptPointer = EPT_DIR + 0x4000; // a copy of the directory
    for (let i = 0; i < 1024; i++) wr32(g.mem, EPT_DIR + 0x4000 + 4 * i, rd32(g.mem, EPT_DIR + 4 * i));
    g.vmx.vmenter(g.v, 100);
    expect(g.vmx.entryFlushes).toBe(flushes + 1);
  });
});

describe('vmxoff', () => {
  test('after vmxoff the CPU runs natively again: no EPT, gpa = hpa', () => {
    const g = guest('.org 0x1000\nstart: mov eax, [0x3000]\n hlt');
    g.vmx.vmenter(g.v, 100);
    g.vmx.vmxoff();
    g.mem.ram.copyWithin(0x1000, OFFSET + 0x1000, OFFSET + 0x1010); // the code, at hpa = gpa now
    wr32(g.mem, 0x3000, 0x77);
    g.cpu.eip = 0x1000;
    g.cpu.runBurst(10, Infinity);
    expect(g.cpu.regs[0]).toBe(0x77);
    expect(g.cpu.halted).toBe(true);
  });
});
