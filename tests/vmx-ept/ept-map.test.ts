// The VMM's EPT (src/vmm/ept/ept-map.ts) on its own: leaves and the invept rule E3, the
// soft table budget and its eviction order, the shared pool, and the frames it builds in.
// Mutation testing found these unpinned: a guest only sees them when something goes wrong
// (a stale translation, a livelock), so each rule is driven directly here. Expected
// values come from the file's header (leaf kinds, E1–E3) and SDM 28.3.3 (W without R is a
// misconfiguration), not from a run.

import { describe, expect, test } from 'vitest';
import { MMIO_BASE, MMIO_END } from '../../src/hw/device.ts';
import { EPT_R, EPT_RWX, EPT_W, EPT_X } from '../../src/hw/ept.ts';
import { EPT_MMIO, EptMap, isMmioGpa } from '../../src/vmm/ept/ept-map.ts';
import { HostMemory } from '../../src/vmm/core/host-memory.ts';

const MB4 = 0x400000;

function setup(maxTables = 8, poolFrames = 16) {
  const host = new HostMemory({ guestFrames: 16, poolFrames });
  let invepts = 0;
  const ept = new EptMap(host, { maxTables }, () => invepts++);
  const dirEntry = (d: number): number => host.mem.ram32[(ept.rootHpa + d * 4) >>> 2]!;
  return { host, ept, invepts: () => invepts, dirEntry };
}

describe('its frames (E1)', () => {
  test('root, zero and all-ones frames come from the pool; the all-ones frame reads 0xFF, the zero frame 0', () => {
    const { host, ept } = setup();
    for (const hfn of [ept.rootHfn, ept.zeroHfn, ept.onesHfn]) expect(host.isPoolFrame(hfn)).toBe(true);
    expect(new Set([ept.rootHfn, ept.zeroHfn, ept.onesHfn]).size).toBe(3);
    const ram = host.mem.ram;
    expect(ram.subarray(ept.onesHfn * 4096, (ept.onesHfn + 1) * 4096).every((b) => b === 0xff)).toBe(true);
    expect(ram.subarray(ept.zeroHfn * 4096, (ept.zeroHfn + 1) * 4096).every((b) => b === 0)).toBe(true);
  });

  test('a pool without room for the root, the zero and the all-ones frames is refused', () => {
    const host = new HostMemory({ guestFrames: 16, poolFrames: 4 });
    host.allocPool();
    host.allocPool(); // two of four left
    expect(() => new EptMap(host, { maxTables: 1 }, () => {})).toThrow(/no room for an EPT root/);
    const roomy = new HostMemory({ guestFrames: 16, poolFrames: 4 });
    roomy.allocPool(); // exactly three left
    expect(() => new EptMap(roomy, { maxTables: 1 }, () => {})).not.toThrow();
  });

  test('a table built in a frame an evicted table left holds no stale leaves', () => {
    const { ept } = setup();
    for (let i = 0; i < 1024; i++) ept.set(i * 4096, 1, EPT_RWX);
    const first = ept.tables.get(0);
    expect(ept.evict(1)).toBe(1);
    ept.set(MB4, 2, EPT_RWX); // the allocator hands out the most recently freed frame first
    expect(ept.tables.get(1)).toBe(first);
    for (let i = 1; i < 1024; i++) expect(ept.leaf(MB4 + i * 4096)).toBe(0);
  });
});

describe('leaves and invept (E3)', () => {
  test('the MMIO window is [MMIO_BASE, MMIO_END) and its marker is W without R', () => {
    expect([isMmioGpa(MMIO_BASE - 1), isMmioGpa(MMIO_BASE), isMmioGpa(MMIO_END - 1), isMmioGpa(MMIO_END)]).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(EPT_MMIO & (EPT_R | EPT_W)).toBe(EPT_W);
  });

  test('a leaf is the frame with its permissions; a missing table reads as not present', () => {
    const { ept, dirEntry } = setup();
    expect(ept.leaf(0x5000)).toBe(0);
    ept.set(0x5000, 7, EPT_R | EPT_X);
    expect(ept.leaf(0x5000)).toBe((7 << 12) | EPT_R | EPT_X);
    expect(dirEntry(0)).toBe((ept.tables.get(0)! << 12) | EPT_RWX);
    expect(ept.stats).toMatchObject({ tablesBuilt: 1, leavesSet: 1 });
  });

  test('adding a leaf or a permission needs no invept; losing one, or a new frame, does', () => {
    const { ept, invepts } = setup();
    ept.set(0x5000, 7, EPT_R | EPT_X);
    ept.set(0x5000, 7, EPT_RWX);
    expect(invepts()).toBe(0);
    ept.set(0x5000, 7, EPT_RWX); // unchanged: not even counted
    expect(ept.stats.leavesSet).toBe(2);
    ept.set(0x5000, 7, EPT_R | EPT_X);
    expect(invepts()).toBe(1);
    ept.set(0x5000, 8, EPT_R | EPT_X);
    expect(invepts()).toBe(2);
  });

  test('clearing a present leaf runs invept (unless the catalog bug says not to); clearing nothing does nothing', () => {
    const { ept, invepts } = setup();
    ept.clear(0x5000);
    ept.set(0x5000, 7, EPT_RWX);
    ept.clear(0x6000);
    expect([invepts(), ept.stats.leavesCleared]).toEqual([0, 0]);
    ept.clear(0x5000);
    expect([ept.leaf(0x5000), invepts(), ept.stats.leavesCleared]).toEqual([0, 1, 1]);
    ept.set(0x5000, 7, EPT_RWX);
    ept.clear(0x5000, false);
    expect([ept.leaf(0x5000), invepts()]).toEqual([0, 1]);
  });
});

describe('the soft table budget', () => {
  test('a full budget evicts the oldest table built before the guest last made progress', () => {
    const { ept, invepts, dirEntry } = setup(2);
    ept.set(0, 1, EPT_RWX);
    ept.set(MB4, 2, EPT_RWX);
    ept.progress();
    ept.set(2 * MB4, 3, EPT_RWX);
    expect([...ept.tables.keys()]).toEqual([1, 2]);
    expect([ept.leaf(0), dirEntry(0), invepts(), ept.stats.tablesEvicted]).toEqual([0, 0, 1, 1]);
  });

  test('tables built since the last progress are kept over budget (no livelock within one instruction)', () => {
    const { ept, invepts } = setup(1);
    ept.set(0, 1, EPT_RWX);
    ept.set(MB4, 2, EPT_RWX);
    ept.set(2 * MB4, 3, EPT_RWX);
    expect(ept.tables.size).toBe(3);
    expect(invepts()).toBe(0);
    ept.progress();
    ept.set(3 * MB4, 4, EPT_RWX);
    expect([...ept.tables.keys()]).toEqual([1, 2, 3]);
  });

  test('evict-shadow drops the oldest `count` tables with one invept; none, none', () => {
    const { ept, invepts } = setup();
    for (let d = 0; d < 4; d++) ept.set(d * MB4, 1, EPT_RWX);
    expect(ept.evict(0)).toBe(0);
    expect(invepts()).toBe(0);
    expect(ept.evict(2)).toBe(2);
    expect([[...ept.tables.keys()], invepts()]).toEqual([[2, 3], 1]);
    expect(ept.evict(9)).toBe(2);
    expect(ept.tables.size).toBe(0);
  });

  test("a pool shared with other VMs: one of this VM's older tables makes room, else the VMM gives up", () => {
    // 4 pool frames: root, zero, all-ones, one table.
    const { ept } = setup(8, 4);
    ept.set(0, 1, EPT_RWX);
    ept.progress();
    ept.set(MB4, 2, EPT_RWX);
    expect([...ept.tables.keys()]).toEqual([1]);
    expect(() => ept.set(2 * MB4, 3, EPT_RWX)).toThrow(/VMM pool exhausted with no EPT table to evict/);
  });
});
