// The vmx-ept VMM's reactions to each event (src/vmm/ept/README.md), one hand-written
// guest each, checked against the spec and against the VMM's own counters: lazy
// allocation and the zero frame, swap-out and swap-in into another frame, migration
// with an immediate remap, MMIO emulated exactly once, open bus, the 2-D walk's cost,
// and the lecture's trade against shadow paging on the benchmark workloads.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { HostEvent } from '../../spec/observation.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { diffObservations } from '../../properties/lockstep/compare.ts';

const RAM = 0x10000;
const image = (src: string) => assemble(src, 'test.s').image;

/** Run on vmx-ept and the spec with the same events; the observations must agree. */
function both(src: string, events: HostEvent[] = [], ramBytes = RAM) {
  const e = new VmxEptEngine(image(src), { ramBytes }, { auditEveryExit: true });
  const got = e.run(events, 1000);
  const want = new SpecMachine(image(src), { ramBytes }).run(events, 1000);
  expect(diffObservations(want, got)).toEqual([]);
  return { e, obs: got, c: e.counters() };
}

describe('lazy allocation', () => {
  test('a read of a never-touched page maps the zero frame; the first write gets a private frame', () => {
    const { e, obs, c } = both(`
      mov eax, [0x5000]
      mov ebx, 0x1234
      mov [0x5008], ebx
      mov ecx, [0x5008]
      hlt`);
    expect(obs.regs.ecx).toBe(0x1234);
    expect(c['vm.zeroMaps']).toBe(1);
    expect(c['vm.cowBreaks']).toBe(1);
    expect(e.vm.p2m.resident(5)).toBeGreaterThanOrEqual(0);
  });

  test('a first write allocates directly; untouched pages never get a frame', () => {
    const { e, c } = both(`
      mov eax, 7
      mov [0x6000], eax
      hlt`);
    expect(c['vm.lazyAllocations']).toBe(1);
    expect(c['vm.zeroMaps']).toBe(0);
    expect(e.vm.p2m.resident(0x9)).toBe(-1);
  });
});

describe('swap and migration', () => {
  const src = `
    mov eax, 0x1234
    mov [0x5000], eax
    nop
    mov ebx, [0x5000]
    mov [0x5004], ebx
    hlt`;

  test('swap-out clears the leaf and runs invept; the next access swaps in into another frame', () => {
    const e = new VmxEptEngine(image(src), { ramBytes: RAM }, { auditEveryExit: true });
    e.step();
    e.step();
    const before = e.vm.p2m.resident(5);
    const invepts = e.counters().invepts!;
    e.fire({ at: 2, kind: 'swap-out', gpa: 0x5000 });
    expect(e.vm.p2m.isSwapped(5)).toBe(true);
    expect(e.vm.ept.leaf(0x5000)).toBe(0);
    expect(e.counters().invepts).toBe(invepts + 1);
    const obs = e.run([], 100);
    expect(obs.regs.ebx).toBe(0x1234);
    expect(e.vm.p2m.resident(5)).not.toBe(before);
    expect(e.counters().swapIns).toBe(1);
  });

  test('migration copies, remaps at once and runs invept: no violation follows', () => {
    const e = new VmxEptEngine(image(src), { ramBytes: RAM }, { auditEveryExit: true });
    e.step();
    e.step();
    const before = e.vm.p2m.resident(5);
    const c0 = e.counters();
    e.fire({ at: 2, kind: 'migrate', gpa: 0x5000 });
    const obs = e.run([], 100);
    const c1 = e.counters();
    expect(obs.regs.ebx).toBe(0x1234);
    expect(e.vm.p2m.resident(5)).not.toBe(before);
    expect(e.vm.ept.leaf(0x5000) >>> 12).toBe(e.vm.p2m.resident(5));
    expect(c1.invepts).toBe(c0.invepts! + 1);
    expect(c1.eptViolations).toBe(c0.eptViolations);
  });

  test('every host event, against the spec', () => {
    const events: HostEvent[] = [
      { at: 1, kind: 'reclaim', frames: 3 },
      { at: 2, kind: 'swap-out', gpa: 0x5000 },
      { at: 3, kind: 'evict-shadow', count: 4 },
      { at: 3, kind: 'migrate', gpa: 0 },
      { at: 4, kind: 'flush-tlb' },
      { at: 4, kind: 'switch-vm' },
    ];
    both(src, events);
  });
});

describe('host events do their work', () => {
  // Host-event transparency (properties/vmx-ept.test.ts) holds trivially for an event the
  // VMM ignores; each must change the host's state, and the guest must still not see it.
  test('evict-shadow drops EPT tables, flush-tlb flushes, reclaim swaps frames out', () => {
    const src = `
      mov eax, 0x1234
      mov [0x5000], eax
      nop
      mov ebx, [0x5000]
      hlt`;
    const e = new VmxEptEngine(image(src), { ramBytes: RAM }, { auditEveryExit: true });
    e.step();
    e.step();
    const c0 = e.counters();
    e.fire({ at: 2, kind: 'evict-shadow', count: 4 });
    const c1 = e.counters();
    expect(c1['ept.tablesEvicted']).toBe(c0['ept.tablesEvicted']! + 1); // RAM fits in one 4 MiB table
    expect(c1.invepts).toBe(c0.invepts! + 1);
    expect(e.vm.ept.tables.size).toBe(0);
    e.fire({ at: 2, kind: 'flush-tlb' });
    const c2 = e.counters();
    expect(c2.tlbFlushes).toBe(c1.tlbFlushes! + 1);
    e.fire({ at: 2, kind: 'reclaim', frames: 2 });
    const c3 = e.counters();
    expect(c3.swapOuts).toBe(c2.swapOuts! + 2); // the code page and gfn 5: both of its frames
    expect([e.vm.p2m.isSwapped(0), e.vm.p2m.isSwapped(5)]).toEqual([true, true]);
    const obs = e.run([], 100);
    expect(obs.regs.ebx).toBe(0x1234);
    expect(diffObservations(new SpecMachine(image(src), { ramBytes: RAM }).run([], 100), obs)).toEqual([]);
  });
});

describe('two VMs on one host', () => {
  // The companion writes the same gpas in its own RAM and leaves its translations in the
  // shared host TLB at every switch-vm; the audit (run after every exit and host event)
  // holds throughout, and this VM still ends where the spec ends (DESIGN §6.12).
  test('the audit holds after every switch-vm, and the guest still matches the spec', () => {
    const src = `
      mov eax, 0x1234
      mov [0x5000], eax
      mov ebx, [0x5000]
      mov [0x6000], ebx
      mov ecx, [0x6000]
      hlt`;
    const companion = {
      image: image(`
      mov eax, 1
    loop:
      mov [0x5000], eax
      add eax, 1
      mov ebx, [0x7000]
      jmp loop`),
      ramBytes: RAM,
    };
    const events: HostEvent[] = [1, 2, 3, 4].map((at) => ({ at, kind: 'switch-vm' }));
    const e = new VmxEptEngine(image(src), { ramBytes: RAM }, { auditEveryExit: true, companion, companionSteps: 20 });
    const obs = e.run(events, 100);
    expect(obs.regs.ecx).toBe(0x1234);
    expect(e.vm.audit()).toEqual([]);
    expect(diffObservations(new SpecMachine(image(src), { ramBytes: RAM }).run(events, 100), obs)).toEqual([]);
  });
});

describe('MMIO and open bus', () => {
  test('each MMIO access exits (EPT misconfiguration) and is emulated exactly once', () => {
    const { obs, c } = both(`
      mov eax, [0xFEE00004]
      mov ebx, [0xFEE00004]
      mov ecx, 0x55
      mov [0xFEE00008], ecx
      hlt`);
    expect([obs.regs.eax, obs.regs.ebx]).toEqual([0, 1]);
    expect(obs.device).toEqual({ counter: 2, log: [0x55] });
    // The first touch is a violation that installs the marker, the others misconfigurations.
    expect([c.eptViolations, c.eptMisconfigs, c.mmioEmulations]).toEqual([2, 2, 3]);
  });

  test('open bus reads natively as 0xFF through the all-ones frame; a write is emulated and dropped', () => {
    const { obs, c } = both(`
      mov eax, [0x80000]
      mov [0x80000], eax
      mov ebx, 5
      mov [0x80004], ebx
      mov ebx, [0x80004]
      hlt`);
    expect(obs.regs.eax).toBe(0xffffffff);
    expect(obs.regs.ebx).toBe(0xffffffff);
    expect(c.openBusMaps).toBe(1);
    expect(c.openBusEmulations).toBe(2);
  });
});

describe("the lecture's trade (DESIGN §9): exits vs walk references", () => {
  const workload = (name: string) => image(readFileSync(`examples/bench/${name}.s`, 'utf8'));
  test.each(['fork', 'ptemod'])('%s: far fewer exits than shadow paging, more walk references; 8 per 2-D walk', (name) => {
    const steps = 200_000;
    const ept = new VmxEptEngine(workload(name), { ramBytes: 1 << 20 });
    ept.run([], steps);
    const shadow = new VmxShadowEngine(workload(name), { ramBytes: 1 << 20 });
    shadow.run([], steps);
    const ce = ept.counters();
    const cs = shadow.counters();
    expect(ce.exits! * 100).toBeLessThan(cs.exits!);
    expect(ce.walkRefs!).toBeGreaterThan(cs.walkRefs!);
    // (n+1)(m+1)−1 = 8 references per guest-paging TLB miss, n = m = 2.
    expect(ce.walkRefs! / ce.walks!).toBeGreaterThan(7.9);
    expect(ce.walkRefs! / ce.walks!).toBeLessThanOrEqual(8);
  });
});
