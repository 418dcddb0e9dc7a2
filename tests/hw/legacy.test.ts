// Legacy mode (DESIGN §4, §5 trap-emulate): a guest kernel deprivileged to ring 1 runs
// on the real registers; every event goes to the monitor; privileged instructions trap
// as #GP(0); the sensitive unprivileged ones (pushf, popf, sidt, str, mov a, cs) do not,
// and reveal the host. Expected values from DESIGN §3.1, §3.3, §3.4.

import { describe, expect, test } from 'vitest';
import { ACC_READ } from '../../src/hw/arch.ts';
import type { Cpu } from '../../src/hw/cpu.ts';
import { LegacyMode, type Monitor, type MonitorAction, type Trap } from '../../src/hw/legacy.ts';
import { host, identityTables } from './helpers.ts';

const HOST_TABLES = { idtrBase: 0x9000, idtrLimit: 0x7ff, tr: 0x9800 };

/**
 * A toy monitor: records every trap; emulates `cli`/`sti` on a virtual IF, `hlt` by
 * halting the real CPU, skips any other #GP instruction, resumes `int n` at the next
 * instruction, and skips the instruction of a #UD or #PF.
 */
class ToyMonitor implements Monitor {
  readonly traps: Trap[] = [];
  virtualIf = true;
  shutdownOnUd = false;

  trap(cpu: Cpu, t: Trap): MonitorAction {
    this.traps.push(t);
    if (t.kind === 'interrupt') return 'resume';
    if (t.kind === 'software') {
      cpu.eip = t.eip;
      cpu.icount++;
      return 'resume';
    }
    if (t.vector === 6 && this.shutdownOnUd) return 'shutdown';
    if (t.vector === 13) {
      const op = cpu.mem.read8(cpu.mmu.probe(t.eip, ACC_READ));
      if (op === 0x62) this.virtualIf = false;
      if (op === 0x63) this.virtualIf = true;
      if (op === 0x02) cpu.halted = true;
    }
    cpu.eip = (t.eip + 8) | 0;
    cpu.icount++;
    return 'resume';
  }
}

function runAtRing1(source: string, setup: (cpu: Cpu) => void = () => {}) {
  const h = host(source);
  const monitor = new ToyMonitor();
  const legacy = new LegacyMode(h.cpu, monitor);
  legacy.install(HOST_TABLES);
  const cpu = h.cpu;
  cpu.eip = h.symbols.get('start')!;
  cpu.setCpl(1); // the guest kernel, deprivileged
  cpu.eflags = 0x202; // the monitor keeps the real IF on; IOPL 0
  cpu.regs[4] = 0x8000;
  setup(cpu);
  cpu.runBurst(1000, Infinity);
  return { ...h, monitor, legacy };
}

const gp = (eip: number): Trap => ({ vector: 13, kind: 'exception', errorCode: 0, eip, faultEip: eip, faultAddress: null });

describe('legacy mode: traps go to the monitor', () => {
  test('every privileged instruction at cpl 1 raises #GP(0) to the monitor, at its own eip', () => {
    const { cpu, monitor, legacy, symbols } = runAtRing1(`
.org 0x1000
start:
i0: cli
    mov eax, 0x1000
i1: mov cr3, eax
i2: mov ebx, cr0
i3: lidt [0x2000]
i4: ltr eax
i5: invlpg [0x5000]
i6: in eax, 0xe9
i7: out 0xe9, eax
i8: sti
i9: hlt
`);
    const at = (l: string) => symbols.get(l)!;
    expect(monitor.traps).toEqual(['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8', 'i9'].map((l) => gp(at(l))));
    expect(cpu.halted).toBe(true);
    expect(cpu.icount).toBe(11); // one native mov + ten emulated
    expect(legacy.trapsByVector[13]).toBe(10);
    // Nothing privileged took effect on the real registers.
    expect(cpu.cr3).toBe(0);
    expect(cpu.tr).toBe(HOST_TABLES.tr);
    expect(cpu.eflags & 0x200).toBe(0x200);
  });

  test('int n, exceptions, external interrupts and page faults on the shadow table all trap', () => {
    const PD = 0x10000;
    const PT = 0x11000;
    const { cpu, monitor, symbols } = runAtRing1(
      `
.org 0x1000
start:
    int 0x80
after_int:
u:  ud2
pf: mov eax, [0x400010]
h:  hlt
`,
      (c) => {
        // The VMM's shadow table: the first 1 MiB identity-mapped; PDE 1 not present.
        identityTables(c.mem, PD, PT, 256);
        c.writeCr(3, PD, 0);
        c.writeCr(0, 0x80000001, 0);
        c.raise(0x30);
      },
    );
    const at = (l: string) => symbols.get(l)!;
    expect(monitor.traps).toEqual([
      { vector: 0x30, kind: 'interrupt', errorCode: null, eip: at('start'), faultEip: at('start'), faultAddress: null },
      { vector: 0x80, kind: 'software', errorCode: null, eip: at('after_int'), faultEip: at('start'), faultAddress: null },
      { vector: 6, kind: 'exception', errorCode: null, eip: at('u'), faultEip: at('u'), faultAddress: null },
      // DESIGN §3.5.6: not present, read, supervisor (cpl 1 < 3): error code 0.
      { vector: 14, kind: 'exception', errorCode: 0, eip: at('pf'), faultEip: at('pf'), faultAddress: 0x400010 },
      gp(at('h')),
    ]);
    // The hardware wrote the real CR2 (the monitor must keep the guest's own separately).
    expect(cpu.cr2 >>> 0).toBe(0x400010);
  });

  test('a monitor can end the run (shutdown)', () => {
    const { cpu, monitor } = runAtRing1('.org 0x1000\nstart: ud2\n hlt', () => {});
    expect(monitor.traps.map((t) => t.vector)).toEqual([6, 13]); // ud2 skipped, then hlt emulated
    expect(cpu.halted).toBe(true);

    const h = host('.org 0x1000\nstart: ud2\n hlt');
    const m = new ToyMonitor();
    m.shutdownOnUd = true;
    new LegacyMode(h.cpu, m).install(HOST_TABLES);
    h.cpu.eip = 0x1000;
    h.cpu.setCpl(1);
    h.cpu.runBurst(100, Infinity);
    expect(h.cpu.shutdown).toBe(true);
    expect(h.cpu.icount).toBe(0);
  });
});

describe('legacy mode: what a deprivileged guest sees (why trap-and-emulate fails on VX32)', () => {
  test('pushf, popf, sidt, str and mov a, cs run without trapping and reveal the host', () => {
    const { cpu, mem, monitor, symbols } = runAtRing1(`
.org 0x1000
start:
    cli          ; traps: the monitor clears the guest's virtual IF
    pushf        ; pushes the REAL eflags
    pop eax
    push 0x2     ; the guest restores "IF = 0" with popf ...
    popf         ; ... at cpl 1 > IOPL 0: IF silently kept (DESIGN §3.4), no trap
    pushf
    pop ebx
    sidt [0x2000]
    str ecx
    mov edx, cs
h:  hlt
`);
    // Only cli and hlt trapped.
    expect(monitor.traps.map((t) => t.eip)).toEqual([0x1000, symbols.get('h')!]);
    expect(monitor.virtualIf).toBe(false); // what the guest believes
    expect(cpu.regs[0]! >>> 0).toBe(0x202); // pushf: IF = 1 (the real one), bit 1
    expect(cpu.regs[3]! >>> 0).toBe(0x202); // popf could not clear it
    expect(cpu.eflags & 0x200).toBe(0x200);
    // sidt: limit u16 then base u32 (DESIGN §3.4) — the monitor's IDT.
    expect(mem.read8(0x2000) | (mem.read8(0x2001) << 8)).toBe(0x7ff);
    expect([2, 3, 4, 5].map((i) => mem.read8(0x2000 + i))).toEqual([0x00, 0x90, 0x00, 0x00]);
    expect(cpu.regs[1]! >>> 0).toBe(0x9800); // str: the monitor's TR
    expect(cpu.regs[2]! >>> 0).toBe(0x19); // CS = 0x08 + 0x11 * 1: ring 1, not 0 (DESIGN §3.1)
  });

  test('popf at cpl 1 still changes the arithmetic flags', () => {
    const { cpu } = runAtRing1(`
.org 0x1000
start:
    push 0x8c3   ; CF ZF SF OF set, IF clear
    popf
    hlt
`);
    expect(cpu.eflags >>> 0).toBe(0x2 | 0x1 | 0x40 | 0x80 | 0x800 | 0x200);
  });
});
