// VMX-lite without EPT (DESIGN §4): one test group per control, event injection with
// faults during delivery and IDT-vectoring information, shadow EFLAGS. Guests run with
// gpa = hpa (paging off, or on guest-written tables the test hands over as the real CR3).
// Expected values come from DESIGN §3 and the exit layouts of SDM vol. 3C ch. 27
// (written out by hand here, not computed with src/hw/exits.ts).

import { describe, expect, test } from 'vitest';
import type { Vmcs } from '../../src/hw/vmcs.ts';
import { host, identityTables, rd32, vmcsAt, writeGate, wr32 } from './helpers.ts';

const EAX = 0;
const ECX = 1;
const EDX = 2;
const EBX = 3;
const ESP = 4;

const PD = 0x10000;
const PT = 0x11000;
const IDT = 0x3000;

function guest(source: string, configure: (v: Vmcs) => void = () => {}) {
  const h = host(source);
  const v = vmcsAt(h.symbols.get('start') ?? 0x1000);
  v.guest.regs[ESP] = 0x8000;
  configure(v);
  const at = (label: string): number => h.symbols.get(label)!;
  return { ...h, v, at };
}

/** The guest's IDT at IDT with interrupt gates to `handler` for the given vectors. */
function idt(h: ReturnType<typeof guest>, vectors: number[], handler: number): void {
  for (const vec of vectors) writeGate(h.mem, IDT, vec, handler);
  h.v.guest.idtrBase = IDT;
  h.v.guest.idtrLimit = 0x7ff;
}

/** Guest paging on the test's identity tables (first 1 MiB), handed over as the real CR3. */
function paging(v: Vmcs, mem: ReturnType<typeof host>['mem']): void {
  identityTables(mem, PD, PT, 256);
  v.guest.cr0 = 0x80000001;
  v.guest.cr3 = PD;
}

describe('HLT exiting', () => {
  const src = '.org 0x1000\nstart: mov eax, 1\nh: hlt';

  test('hlt exits before retiring, with the instruction and its length', () => {
    const g = guest(src, (v) => (v.controls.hltExiting = true));
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('hlt');
    expect(e.instructionLength).toBe(8);
    expect([...e.instructionBytes]).toEqual([0x02, 0, 0, 0, 0, 0, 0, 0]);
    expect(e.steps).toBe(1);
    expect(g.v.guest.eip).toBe(g.at('h'));
    expect(g.v.guest.icount).toBe(1);
    expect(g.v.guest.halted).toBe(false);
    expect(g.vmx.exits.hlt).toBe(1);
  });

  test('without it the guest halts, and time jumps to the preemption timer', () => {
    const g = guest(src);
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('preemption-timer');
    expect(e.steps).toBe(2);
    expect(g.v.guest.halted).toBe(true);
    expect(g.v.guest.icount).toBe(2); // DESIGN §3.10.8: hlt retires before halting
  });

  test('the budget is a preemption-timer exit at an instruction boundary', () => {
    const g = guest('.org 0x1000\nstart: l: inc eax\n jmp l');
    const e = g.vmx.vmenter(g.v, 7);
    expect(e.reason).toBe('preemption-timer');
    expect(e.steps).toBe(7);
    expect(g.v.guest.regs[EAX]).toBe(4);
    expect(g.v.guest.icount).toBe(7);
  });
});

describe('CR3-load and CR3-store exiting', () => {
  const src = `
.org 0x1000
start: mov ebx, 0x5000
l:     mov cr3, ebx
s:     mov ecx, cr3
       hlt`;

  test('mov cr3, ebx and mov ecx, cr3 exit with the CR number, direction and register', () => {
    const g = guest(src, (v) => {
      v.controls.cr3LoadExiting = true;
      v.controls.cr3StoreExiting = true;
      v.guest.cr3 = 0x9000;
    });
    let e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('cr-access');
    expect(e.qualification).toBe(0x303); // CR 3, mov to CR (0), GPR 3 (ebx)
    expect(g.v.guest.eip).toBe(g.at('l'));
    expect(g.v.guest.cr3).toBe(0x9000); // not loaded
    g.v.guest.eip += 8; // the VMM emulates (here: ignores) it
    e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('cr-access');
    expect(e.qualification).toBe(0x113); // CR 3, mov from CR (1 << 4), GPR 1 (ecx)
    expect(g.v.guest.eip).toBe(g.at('s'));
    expect(g.vmx.exits['cr-access']).toBe(2);
  });

  test('without them cr3 is the guest’s own register', () => {
    const g = guest(src, (v) => (v.controls.hltExiting = true));
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.cr3).toBe(0x5000);
    expect(g.v.guest.regs[ECX]).toBe(0x5000);
  });
});

describe('CR0/CR4 guest-host masks and read shadows', () => {
  test('masked CR0 bits read from the shadow; writes equal to it stay native, others exit', () => {
    const g = guest(
      `
.org 0x1000
start: mov eax, cr0        ; PG, WP masked: the guest sees the shadow (paging off)
       mov ebx, 0x1
       mov cr0, ebx        ; masked bits equal the shadow: no exit, real PG kept
       mov ecx, cr0
       mov edx, 0x10001
w:     mov cr0, edx        ; WP differs from the shadow: exit
`,
      (v) => {
        v.controls.cr0Mask = 0x80010000;
        v.controls.cr0ReadShadow = 0x00000001;
      },
    );
    paging(g.v, g.mem); // the real CR0 has PG: a physical-mode shadow table
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('cr-access');
    expect(e.qualification).toBe(0x200); // CR 0, mov to, GPR 2 (edx)
    expect(g.v.guest.eip).toBe(g.at('w'));
    expect(g.v.guest.regs[EAX]).toBe(1);
    expect(g.v.guest.regs[ECX]).toBe(1);
    expect(g.v.guest.cr0 >>> 0).toBe(0x80000001);
  });

  test('turning paging on against a PG = 0 shadow exits', () => {
    const g = guest('.org 0x1000\nstart: mov eax, 0x80000001\nw: mov cr0, eax', (v) => {
      v.controls.cr0Mask = 0x80000000;
    });
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('cr-access');
    expect(e.qualification).toBe(0x000);
    expect(g.v.guest.cr0).toBe(1);
  });

  test('an invalid CR0 value with no masked change is #GP(0), checked after the exit test', () => {
    const g = guest('.org 0x1000\nstart: mov eax, 0\nw: mov cr0, eax', (v) => {
      v.controls.cr0Mask = 0x80000000;
      v.controls.exceptionBitmap = 1 << 13;
    });
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('exception');
    expect(e.interruption).toEqual({ vector: 13, kind: 'exception', errorCode: 0, instructionLength: 0 });
    expect(g.v.guest.eip).toBe(g.at('w'));
  });

  test('CR4: the shadow’s PSE is read, a write clearing it exits', () => {
    const g = guest(
      `
.org 0x1000
start: mov eax, cr4
       mov ebx, 0x10
       mov cr4, ebx        ; equal to the shadow: no exit, real PSE stays 0
       mov ecx, 0
w:     mov cr4, ecx
`,
      (v) => {
        v.controls.cr4Mask = 0x10;
        v.controls.cr4ReadShadow = 0x10;
      },
    );
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('cr-access');
    expect(e.qualification).toBe(0x104); // CR 4, mov to, GPR 1 (ecx)
    expect(g.v.guest.regs[EAX]).toBe(0x10);
    expect(g.v.guest.cr4).toBe(0);
    expect(g.v.guest.eip).toBe(g.at('w'));
  });
});

describe('descriptor-table exiting', () => {
  test('lidt, sidt, ltr, str exit with load/store, register and memory operand', () => {
    const g = guest(
      `
.org 0x1000
start: mov ebx, 0x3000
       lidt [0x2000]
       sidt [ebx + 4]
       ltr eax
       str edx
       hlt`,
      (v) => {
        v.controls.descriptorTableExiting = true;
        v.controls.hltExiting = true;
      },
    );
    const seen: [string, number, number | null][] = [];
    for (;;) {
      const e = g.vmx.vmenter(g.v, 100);
      seen.push([e.reason, e.qualification, e.guestLinear]);
      if (e.reason === 'hlt') break;
      g.v.guest.eip += e.instructionLength;
    }
    expect(seen).toEqual([
      ['idtr-access', 0, 0x2000],
      ['idtr-access', 1, 0x3004],
      ['tr-access', 0x000, null], // ltr eax: load, GPR 0
      ['tr-access', 0x201, null], // str edx: store, GPR 2
      ['hlt', 0, null],
    ]);
    expect(g.vmx.exits['idtr-access']).toBe(2);
    expect(g.vmx.exits['tr-access']).toBe(2);
  });

  test('without it sidt, str, mov a, cs and pushf show the guest’s own state, not the host’s', () => {
    const g = guest(
      `
.org 0x1000
start: sidt [0x2000]
       str edx
       mov ecx, cs
       pushf
       pop ebx
       hlt`,
      (v) => {
        v.controls.hltExiting = true;
        v.guest.idtrBase = 0x4000;
        v.guest.idtrLimit = 0x3ff;
        v.guest.tr = 0x4800;
        v.guest.eflags = 0x202;
        v.host.idtrBase = 0x9000;
        v.host.idtrLimit = 0x7ff;
        v.host.tr = 0x9800;
      },
    );
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect([0, 1, 2, 3, 4, 5].map((i) => g.mem.read8(0x2000 + i))).toEqual([0xff, 0x03, 0x00, 0x40, 0x00, 0x00]);
    expect(g.v.guest.regs[EDX]).toBe(0x4800);
    expect(g.v.guest.regs[ECX]).toBe(0x08); // ring 0 in non-root mode (DESIGN §3.1)
    expect(g.v.guest.regs[EBX]).toBe(0x202);
    // Root mode got the host's registers back.
    expect(g.cpu.idtrBase).toBe(0x9000);
    expect(g.cpu.tr).toBe(0x9800);
    expect(g.cpu.cpl).toBe(0);
  });
});

describe('INVLPG and I/O exiting', () => {
  test('invlpg exits with its linear address as qualification', () => {
    const g = guest('.org 0x1000\nstart: mov ebx, 0x5000\n invlpg [ebx + 0x10]', (v) => (v.controls.invlpgExiting = true));
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('invlpg');
    expect(e.qualification).toBe(0x5010);
    expect(e.guestLinear).toBe(0x5010);
  });

  test('out and in exit with port, direction, size and register', () => {
    const g = guest('.org 0x1000\nstart: out 0xe9, eax\n in ecx, 0x60', (v) => (v.controls.ioExiting = true));
    let e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('io');
    expect(e.qualification >>> 0).toBe(0x00e90003); // port 0xE9, out, 4 bytes, GPR 0
    g.v.guest.eip += 8;
    e = g.vmx.vmenter(g.v, 100);
    expect(e.qualification >>> 0).toBe(0x0060010b); // port 0x60, in (bit 3), 4 bytes, GPR 1
    expect(g.cpu.console).toEqual([]);
    expect(g.vmx.exits.io).toBe(2);
  });

  test('without I/O exiting the guest reaches the host port; at cpl 3 with IOPL 0 it is #GP first', () => {
    const g = guest('.org 0x1000\nstart: mov eax, 0x41\n out 0xe9, eax\n in ecx, 0xe9\n hlt', (v) => (v.controls.hltExiting = true));
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.cpu.console).toEqual([0x41]);
    expect(g.v.guest.regs[ECX]).toBe(0xe9);

    const u = guest('.org 0x1000\nstart: out 0xe9, eax', (v) => {
      v.controls.ioExiting = true;
      v.controls.exceptionBitmap = 1 << 13;
      v.guest.cpl = 3;
    });
    const e = u.vmx.vmenter(u.v, 100);
    expect(e.reason).toBe('exception'); // SDM 25.1.1: privilege faults before the exit
    expect(e.interruption?.vector).toBe(13);
  });
});

describe('exception bitmap', () => {
  test('#UD in the bitmap exits at the faulting instruction; not in it, the guest IDT delivers it', () => {
    const src = '.org 0x1000\nstart: nop\nu: ud2\n.org 0x1800\nhandler: hlt';
    const g = guest(src, (v) => (v.controls.exceptionBitmap = 1 << 6));
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('exception');
    expect(e.interruption).toEqual({ vector: 6, kind: 'exception', errorCode: null, instructionLength: 0 });
    expect(e.idtVectoring).toBeNull();
    expect(g.v.guest.eip).toBe(g.at('u'));
    expect(g.v.guest.trace).toEqual([]);

    const n = guest(src, (v) => (v.controls.hltExiting = true));
    idt(n, [6], n.at('handler'));
    expect(n.vmx.vmenter(n.v, 100).reason).toBe('hlt');
    expect(n.v.guest.trace).toEqual([{ icount: 1, kind: 'exception', vector: 6, eip: n.at('u') }]);
    expect(n.v.guest.eip).toBe(n.at('handler'));
    expect(n.cpu.trace).toEqual([]); // the host's record is untouched
  });

  test('#PF exits with the faulting gva as qualification and leaves CR2 alone', () => {
    const g = guest('.org 0x1000\nstart: mov edx, 0x400123\nf: mov [edx], eax', (v) => {
      v.controls.exceptionBitmap = 1 << 14;
      v.guest.cr2 = 0x12345000;
      v.guest.cpl = 0;
    });
    paging(g.v, g.mem);
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('exception');
    // DESIGN §3.5.6: not present (P = 0), write (W = 2), supervisor.
    expect(e.interruption).toEqual({ vector: 14, kind: 'exception', errorCode: 2, instructionLength: 0 });
    expect(e.qualification).toBe(0x400123);
    expect(e.guestLinear).toBe(0x400123);
    expect(g.v.guest.cr2).toBe(0x12345000);
    expect(g.v.guest.eip).toBe(g.at('f'));
  });

  test('int n never consults the bitmap (a software interrupt, not an exception)', () => {
    const g = guest('.org 0x1000\nstart: i: int 13\n.org 0x1800\nhandler: hlt', (v) => {
      v.controls.exceptionBitmap = 0xffffffff;
      v.controls.hltExiting = true;
    });
    idt(g, [13], g.at('handler'));
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.trace).toEqual([{ icount: 0, kind: 'software', vector: 13, eip: g.at('i') + 8 }]);
  });
});

describe('external-interrupt and interrupt-window exiting', () => {
  const spin = '.org 0x1000\nstart: l: inc eax\n jmp l\n.org 0x1800\nhandler: hlt';

  test('a host interrupt exits whatever the guest IF, and is acknowledged', () => {
    const g = guest(spin, (v) => (v.controls.externalInterruptExiting = true));
    expect(g.vmx.vmenter(g.v, 5).reason).toBe('preemption-timer');
    g.cpu.raise(0x30);
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('external-interrupt');
    expect(e.interruption).toEqual({ vector: 0x30, kind: 'external', errorCode: null, instructionLength: 0 });
    expect(e.steps).toBe(0);
    expect(g.cpu.pendingCount).toBe(0);
    expect(g.v.guest.icount).toBe(5);
    expect(g.v.guest.eflags & 0x200).toBe(0);
  });

  test('without it a host interrupt goes through the guest IDT when the guest IF allows', () => {
    const g = guest(spin, (v) => {
      v.controls.hltExiting = true;
      v.guest.eflags = 0x202;
    });
    idt(g, [0x30], g.at('handler'));
    g.cpu.raise(0x30);
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.trace).toEqual([{ icount: 0, kind: 'interrupt', vector: 0x30, eip: 0x1000 }]);
  });

  test('the window opens at the boundary after the STI shadow', () => {
    const g = guest('.org 0x1000\nstart: sti\nn1: nop\nn2: nop\n hlt', (v) => (v.controls.interruptWindowExiting = true));
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('interrupt-window');
    expect(e.steps).toBe(2);
    expect(g.v.guest.eip).toBe(g.at('n2'));
    expect(g.v.guest.stiShadow).toBe(false);
  });

  test('popf and iret open it at once (no shadow: DESIGN §3.10.6); IF = 1 at entry exits at entry', () => {
    const g = guest('.org 0x1000\nstart: push 0x202\n popf\np: nop', (v) => (v.controls.interruptWindowExiting = true));
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('interrupt-window');
    expect(g.v.guest.eip).toBe(g.at('p'));
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('interrupt-window');
    expect(e.steps).toBe(0);
  });

  test('an exit inside the STI shadow keeps the shadow for the next entry', () => {
    const g = guest('.org 0x1000\nstart: sti\nn1: nop\n hlt', (v) => (v.controls.externalInterruptExiting = true));
    expect(g.vmx.vmenter(g.v, 1).reason).toBe('preemption-timer');
    expect(g.v.guest.stiShadow).toBe(true);
    g.cpu.raise(0x31);
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('external-interrupt');
    expect(g.v.guest.stiShadow).toBe(true);
    expect(g.v.guest.eip).toBe(g.at('n1'));
  });
});

describe('event injection', () => {
  const src = '.org 0x1000\nstart: nop\n.org 0x1800\nhandler: hlt';

  function injected(configure: (v: Vmcs) => void) {
    const g = guest(src, (v) => {
      v.controls.hltExiting = true;
      v.guest.eflags = 0x202;
    });
    idt(g, [0x40, 13], g.at('handler'));
    configure(g.v);
    return g;
  }

  test('an external interrupt is delivered through the guest IDT at entry', () => {
    const g = injected((v) => v.injection.set(0x40, 'external'));
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.injection.valid).toBe(false);
    expect(g.v.guest.trace).toEqual([{ icount: 0, kind: 'interrupt', vector: 0x40, eip: 0x1000 }]);
    expect(g.v.guest.regs[ESP]).toBe(0x8000 - 12);
    expect([0, 4, 8].map((o) => rd32(g.mem, 0x8000 - 12 + o))).toEqual([0x1000, 0x08, 0x202]);
    expect(g.v.guest.eflags & 0x200).toBe(0); // interrupt gate
  });

  test('a software interrupt saves eip + length and retires; an exception pushes its error code', () => {
    const s = injected((v) => v.injection.set(0x40, 'software', null, 8));
    s.vmx.vmenter(s.v, 100);
    expect(s.v.guest.trace).toEqual([{ icount: 0, kind: 'software', vector: 0x40, eip: 0x1008 }]);
    expect(s.v.guest.icount).toBe(1);

    const x = injected((v) => v.injection.set(13, 'exception', 0x10));
    x.vmx.vmenter(x.v, 100);
    expect(x.v.guest.trace).toEqual([{ icount: 0, kind: 'exception', vector: 13, errorCode: 0x10, eip: 0x1000 }]);
    expect([0, 4].map((o) => rd32(x.mem, 0x8000 - 16 + o))).toEqual([0x10, 0x1000]);
  });

  test('injected events ignore the exception bitmap', () => {
    const g = injected((v) => {
      v.injection.set(13, 'exception', 0);
      v.controls.exceptionBitmap = 1 << 13;
    });
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.trace.length).toBe(1);
  });

  test('a #PF pushing the frame exits with the event in IDT-vectoring info; re-injection completes it', () => {
    const g = injected((v) => {
      v.injection.set(0x40, 'external');
      v.controls.exceptionBitmap = 1 << 14;
    });
    paging(g.v, g.mem);
    wr32(g.mem, PT + 4 * 7, 0); // the stack page 0x7000 is not (yet) in the shadow
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('exception');
    expect(e.interruption).toEqual({ vector: 14, kind: 'exception', errorCode: 2, instructionLength: 0 });
    expect(e.qualification).toBe(0x7ffc);
    expect(e.idtVectoring).toEqual({ vector: 0x40, kind: 'external', errorCode: null, instructionLength: 0 });
    expect(e.steps).toBe(0);
    expect(g.v.guest.cr2).toBe(0);
    expect(g.v.guest.eip).toBe(0x1000);
    expect(g.v.guest.regs[ESP]).toBe(0x8000);
    expect(g.v.guest.trace).toEqual([]);

    // The VMM fills the hidden fault and re-injects what the exit interrupted.
    wr32(g.mem, PT + 4 * 7, 0x7007);
    g.vmx.flushTlb();
    const iv = e.idtVectoring!;
    g.v.injection.set(iv.vector, iv.kind, iv.errorCode, iv.instructionLength);
    expect(g.vmx.vmenter(g.v, 100).reason).toBe('hlt');
    expect(g.v.guest.trace).toEqual([{ icount: 0, kind: 'interrupt', vector: 0x40, eip: 0x1000 }]);
  });

  test('without #PF in the bitmap the fault escalates (DESIGN §3.7) and a triple fault exits', () => {
    const g = injected((v) => v.injection.set(0x40, 'external'));
    idt(g, [14, 8], g.at('handler'));
    paging(g.v, g.mem);
    wr32(g.mem, PT + 4 * 7, 0);
    const e = g.vmx.vmenter(g.v, 100);
    // 0x40 → #PF pushing (benign then #PF: deliver #PF) → #PF pushing → #DF → #PF → triple.
    expect(e.reason).toBe('triple-fault');
    expect(g.v.guest.cr2).toBe(0x7ffc); // DESIGN §3.10.2: CR2 written at detection
    expect(g.v.guest.trace).toEqual([]); // the VMM appends the shutdown entry
    expect(g.vmx.exits['triple-fault']).toBe(1);
  });

  test('a #GP from the IDT limit during injection exits per the bitmap, with IDT-vectoring info', () => {
    const g = injected((v) => {
      v.injection.set(0x40, 'external');
      v.controls.exceptionBitmap = 1 << 13;
      v.guest.idtrLimit = 0xff; // 32 gates: 0x40 is beyond the limit
    });
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('exception');
    // DESIGN §3.7: #GP(8v + 2 + EXT) = 0x200 + 2 + 1.
    expect(e.interruption).toEqual({ vector: 13, kind: 'exception', errorCode: 0x203, instructionLength: 0 });
    expect(e.idtVectoring).toEqual({ vector: 0x40, kind: 'external', errorCode: null, instructionLength: 0 });
  });

  test('a guest int n interrupted by an exit is reported as software with its length', () => {
    const g = guest('.org 0x1000\nstart: int 0x40', (v) => {
      v.controls.exceptionBitmap = 1 << 11;
      v.guest.idtrBase = IDT;
      v.guest.idtrLimit = 0x7ff;
    });
    // Gate 0x40: an interrupt gate with P = 0 → #NP(8v + 2), EXT = 0 for int n (DESIGN §3.10.3).
    wr32(g.mem, IDT + 8 * 0x40, 0x00080000);
    wr32(g.mem, IDT + 8 * 0x40 + 4, 0x00000e00);
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('exception');
    expect(e.interruption).toEqual({ vector: 11, kind: 'exception', errorCode: 0x40 * 8 + 2, instructionLength: 0 });
    expect(e.idtVectoring).toEqual({ vector: 0x40, kind: 'software', errorCode: null, instructionLength: 8 });
    expect(g.v.guest.eip).toBe(0x1000);
    expect(g.v.guest.icount).toBe(0);
  });
});

describe('shadow EFLAGS', () => {
  test('cli, sti, popf and pushf run natively on the guest’s own eflags, with no exit', () => {
    const g = guest(
      `
.org 0x1000
start: cli
       pushf
       pop eax
       push 0x202
       popf
       pushf
       pop ebx
       cli
       mov ecx, cs
       hlt`,
      (v) => {
        const c = v.controls;
        c.hltExiting = true;
        c.ioExiting = true;
        c.descriptorTableExiting = true;
        c.cr3LoadExiting = true;
        c.cr3StoreExiting = true;
        c.cr0Mask = 0x80010001;
        c.exceptionBitmap = 0xffffffff;
        v.guest.eflags = 0x202;
      },
    );
    const e = g.vmx.vmenter(g.v, 100);
    expect(e.reason).toBe('hlt');
    expect(e.steps).toBe(9);
    expect(g.vmx.entries).toBe(1);
    expect(g.v.guest.regs[EAX]).toBe(0x2);
    expect(g.v.guest.regs[EBX]).toBe(0x202);
    expect(g.v.guest.regs[ECX]).toBe(0x08);
    expect(g.v.guest.eflags).toBe(0x2);
    // The host's IF is not the guest's: root mode got the host eflags back.
    expect(g.cpu.eflags).toBe(g.v.host.eflags);
  });

  test('a guest at cpl 3 with IOPL 0 gets the DESIGN §3.4 popf rule, not a trap', () => {
    const g = guest('.org 0x1000\nstart: push 0x2\n popf\n pushf\n pop eax\n nop', (v) => {
      v.guest.cpl = 3;
      v.guest.eflags = 0x202;
      v.controls.exceptionBitmap = 0xffffffff;
    });
    const e = g.vmx.vmenter(g.v, 5);
    expect(e.reason).toBe('preemption-timer');
    expect(g.v.guest.regs[EAX]).toBe(0x202);
  });
});

describe('TLB across entries', () => {
  test('re-entering the same VMCS keeps the TLB; another VMCS flushes it', () => {
    const src = '.org 0x1000\nstart: mov eax, [0x5000]\n hlt';
    const g = guest(src, (v) => (v.controls.hltExiting = true));
    paging(g.v, g.mem);
    g.vmx.vmenter(g.v, 100);
    const walks = g.cpu.mmu.walks;
    g.v.guest.eip = 0x1000;
    g.vmx.vmenter(g.v, 100);
    expect(g.cpu.mmu.walks).toBe(walks); // code and data pages still cached
    const other = vmcsAt(0x1000);
    other.controls.hltExiting = true;
    paging(other, g.mem);
    g.vmx.vmenter(other, 100);
    expect(g.cpu.mmu.walks).toBe(walks + 2);
    expect(g.vmx.entryFlushes).toBe(2);
  });
});
