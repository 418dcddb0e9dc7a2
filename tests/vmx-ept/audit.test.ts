// The vmx-ept audit (src/vmm/ept/audit.ts) finds each planted violation. An audit that
// only ever runs on correct states cannot show it checks anything — mutation testing
// found its checks unpinned — so each test corrupts one thing the way a VMM bug would
// and expects the rule that guards it (E1–E3, isolation; DESIGN §6.13, §7) to name it.

import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';

const RAM = 0x10000;

/**
 * After this guest: gfn 6 has a private frame (written), gfn 5 maps the zero frame (only
 * read), the MMIO window (directory 0x3FB) and open bus at 0x20000 (past RAM, directory 0)
 * have their leaves, and the TLB holds gfn 6.
 */
function engine(): VmxEptEngine {
  const { image } = assemble(
    `
    mov eax, [0xFEE00000]
    mov eax, [0x20000]
    mov eax, [0x5000]
    mov ebx, 0x1234
    mov [0x6000], ebx
    mov ecx, [0x6000]
    hlt`,
    'audit.s',
  );
  const e = new VmxEptEngine(image, { ramBytes: RAM }, { auditEveryExit: true });
  e.run([], 100);
  expect(e.vm.audit()).toEqual([]);
  return e;
}

/** The host RAM and the 32-bit word index of the EPT leaf for `gpa`. */
function leaf(e: VmxEptEngine, gpa: number): { ram32: Int32Array; at: number } {
  const t = e.vm.ept.tables.get(gpa >>> 22);
  if (t === undefined) throw new Error(`no EPT table for gpa 0x${gpa.toString(16)}`);
  return { ram32: e.vm.host.memory.mem.ram32, at: (t * 4096 + ((gpa >>> 12) & 1023) * 4) >>> 2 };
}

const report = (e: VmxEptEngine): string => e.vm.audit().join('\n');

describe("E1: the VMM's frames", () => {
  test('a dirty zero frame', () => {
    const e = engine();
    e.vm.host.memory.mem.ram[e.vm.ept.zeroHfn * 4096 + 17] = 0x5a;
    expect(report(e)).toMatch(/E1: the zero frame has byte 0x5a at offset 17/);
  });

  test('an all-ones frame with a zero byte', () => {
    const e = engine();
    e.vm.host.memory.mem.ram[e.vm.ept.onesHfn * 4096 + 3] = 0;
    expect(report(e)).toMatch(/E1: the all-ones frame has byte 0x0 at offset 3/);
  });

  test('an EPT table outside the VMM pool (in a guest frame)', () => {
    const e = engine();
    const guestFrame = e.vm.p2m.resident(6);
    e.vm.ept.tables.set(7, guestFrame);
    expect(report(e)).toMatch(new RegExp(`E1: EPT table 7 in host frame ${guestFrame}, outside the VMM pool`));
  });
});

describe('E2: directory entries and leaves agree with the p2m', () => {
  test('a directory entry with no table', () => {
    const e = engine();
    e.vm.host.memory.mem.ram32[(e.vm.ept.rootHfn * 4096 + 5 * 4) >>> 2] = 0x3007;
    expect(report(e)).toMatch(/E2: directory entry 5 = 0x3007 with no table of this VM/);
  });

  test('a directory entry without all of R, W, X', () => {
    const e = engine();
    const at = (e.vm.ept.rootHfn * 4096) >>> 2;
    const ram32 = e.vm.host.memory.mem.ram32;
    ram32[at] = ram32[at]! & ~2;
    expect(report(e)).toMatch(/E2: directory entry 0 = 0x[0-9a-f]+5, table in frame/);
  });

  test('a non-present leaf with address bits', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x9000);
    ram32[at] = 0x1000;
    expect(report(e)).toMatch(/E2: non-present leaf 0x1000/);
  });

  test('a leaf naming another frame than the p2m', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x6000);
    const right = e.vm.p2m.resident(6);
    const wrong = e.vm.p2m.resident(0);
    ram32[at] = (wrong << 12) | (ram32[at]! & 7);
    expect(report(e)).toMatch(new RegExp(`E2: leaf for gpa 0x6000 = 0x[0-9a-f]+ maps host frame ${wrong}, p2m says ${right}`));
  });

  test('the zero frame writable', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x5000);
    ram32[at] = ram32[at]! | 2;
    expect(report(e)).toMatch(/E2: leaf for gpa 0x5000 = .*: the zero frame must be read\/execute only/);
  });

  test('the zero frame under a gfn that has data', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x6000);
    ram32[at] = (e.vm.ept.zeroHfn << 12) | 5;
    expect(report(e)).toMatch(/E2: leaf for gpa 0x6000 = .* maps the zero frame, but the gfn has data/);
  });

  test('the MMIO window without the misconfiguration marker', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0xfee00000);
    ram32[at] = (e.vm.ept.onesHfn << 12) | 5;
    expect(report(e)).toMatch(/E2: leaf for gpa 0xfee00000 = .*: the MMIO window must carry the misconfiguration marker/);
  });
});

describe('isolation', () => {
  test('open bus mapped writable', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x20000);
    ram32[at] = ram32[at]! | 2;
    expect(report(e)).toMatch(/isolation: leaf for gpa 0x20000 = .*: open bus must map the all-ones frame read\/execute only/);
  });

  test('open bus mapped to a guest frame', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x20000);
    ram32[at] = (e.vm.p2m.resident(6) << 12) | 5;
    expect(report(e)).toMatch(/isolation: leaf for gpa 0x20000 = .*: open bus must map the all-ones frame/);
  });

  test('a leaf reaching a frame the host gave another VM', () => {
    const e = engine();
    const hfn = e.vm.p2m.resident(6);
    e.vm.host.memory.owner[hfn] = e.vm.p2m.vmId + 1;
    expect(report(e)).toMatch(new RegExp(`isolation: leaf for gpa 0x6000 = .* reaches host frame ${hfn} owned by ${e.vm.p2m.vmId + 1}`));
  });
});

describe('E3: TLB ⊆ EPT', () => {
  test('a leaf zapped without a TLB flush', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x6000);
    ram32[at] = 0;
    expect(report(e)).toMatch(/E3: TLB entry for gva 0x6000 = 0x[0-9a-f]+ but the 2-D walk gives no translation/);
  });

  test('a leaf moved to another frame without a TLB flush', () => {
    const e = engine();
    const { ram32, at } = leaf(e, 0x6000);
    ram32[at] = (e.vm.ept.zeroHfn << 12) | 5;
    expect(report(e)).toMatch(
      new RegExp(`E3: TLB entry for gva 0x6000 = .* but the 2-D walk gives 0x${(e.vm.ept.zeroHfn * 4096).toString(16)}`),
    );
  });
});
