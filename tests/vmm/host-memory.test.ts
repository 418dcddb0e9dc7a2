// Host memory and the p2m on their own (src/vmm/core/host-memory.ts, p2m.ts; DESIGN §6.8,
// §6.12): the rules mutation testing found unpinned because a guest sees them only when
// they break — a reused frame not zeroed leaks another gfn's bytes, a pinned frame
// reclaimed mid-migration, a swap disk that never reuses its slots. Expected values come
// from the files' headers and DESIGN §6.8, not from a run.

import { describe, expect, test } from 'vitest';
import { PAGE_SIZE } from '../../src/hw/arch.ts';
import { HostMemory, SwapDisk } from '../../src/vmm/core/host-memory.ts';
import { P2m } from '../../src/vmm/core/p2m.ts';

function vm(guestFrames = 8, ramBytes = 16 * PAGE_SIZE) {
  const host = new HostMemory({ guestFrames, poolFrames: 4 });
  const p2m = P2m.register(host, ramBytes);
  return { host, p2m };
}

describe('host memory', () => {
  test('the host needs at least 2 guest frames and 4 pool frames', () => {
    expect(() => new HostMemory({ guestFrames: 1, poolFrames: 4 })).toThrow(RangeError);
    expect(() => new HostMemory({ guestFrames: 2, poolFrames: 3 })).toThrow(RangeError);
    expect(() => new HostMemory({ guestFrames: 2, poolFrames: 4 })).not.toThrow();
  });

  test('the pool is [poolBase, poolBase + poolFrames), after the guest range', () => {
    const host = new HostMemory({ guestFrames: 8, poolFrames: 4 });
    expect(host.poolBase).toBe(8);
    expect([7, 8, 11, 12].map((h) => host.isPoolFrame(h))).toEqual([false, true, true, false]);
  });

  test('every guest frame can be handed out, the lowest first', () => {
    const { host, p2m } = vm(4);
    for (let gfn = 0; gfn < 4; gfn++) p2m.write8(gfn * PAGE_SIZE, 1);
    expect([0, 1, 2, 3].map((g) => p2m.resident(g))).toEqual([0, 1, 2, 3]);
    expect(host.freeGuestCount).toBe(0);
  });

  test("a frame handed out again is zeroed: no gfn sees another's bytes", () => {
    const { p2m } = vm();
    for (let i = 0; i < PAGE_SIZE; i += 4) p2m.write32(0x1000 + i, -1);
    const hfn = p2m.resident(1);
    p2m.swapOut(1);
    p2m.write8(0x2000, 7); // takes the frame gfn 1 left (most recently freed first)
    expect(p2m.resident(2)).toBe(hfn);
    expect([p2m.read32(0x2000), p2m.read32(0x2004), p2m.read32(0x2ffc)]).toEqual([7, 0, 0]);
  });

  test('a pool frame handed out again is zeroed (shadow pages and EPT tables start not present)', () => {
    const host = new HostMemory({ guestFrames: 8, poolFrames: 4 });
    const hfn = host.allocPool();
    host.mem.ram.fill(0xff, hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE);
    host.freePoolFrame(hfn);
    expect(host.allocPool()).toBe(hfn);
    expect(host.mem.ram.subarray(hfn * PAGE_SIZE, (hfn + 1) * PAGE_SIZE).every((b) => b === 0)).toBe(true);
  });

  test('reclaim takes exactly the frames asked for, never a pinned one', () => {
    const { host, p2m } = vm();
    for (let gfn = 0; gfn < 4; gfn++) p2m.write8(gfn * PAGE_SIZE, gfn + 1);
    host.pinned[p2m.resident(0)] = 1;
    host.reclaim(2);
    expect(p2m.swapOuts).toBe(2);
    host.reclaim(10);
    expect(p2m.swapOuts).toBe(3);
    expect(p2m.resident(0)).toBeGreaterThanOrEqual(0);
    expect([0, 1, 2, 3].map((g) => p2m.read8(g * PAGE_SIZE))).toEqual([1, 2, 3, 4]);
  });

  test('with every frame pinned, an allocation fails loudly', () => {
    const { host, p2m } = vm(2);
    p2m.write8(0, 1);
    p2m.write8(PAGE_SIZE, 1);
    host.pinned[0] = 1;
    host.pinned[1] = 1;
    expect(() => p2m.write8(2 * PAGE_SIZE, 1)).toThrow(/every frame pinned/);
  });

  test('the swap disk reuses a released slot and refuses an empty one', () => {
    const disk = new SwapDisk();
    const page = new Uint8Array(PAGE_SIZE).fill(5);
    const a = disk.put(page);
    const b = disk.put(page);
    const into = new Uint8Array(PAGE_SIZE);
    disk.take(a, into);
    expect(into[0]).toBe(5);
    expect(disk.put(page)).toBe(a);
    expect(disk.put(page)).toBe(b + 1);
    disk.take(b, into);
    expect(() => disk.peek(b)).toThrow(/swap slot 1 is empty/);
    expect([disk.writes, disk.reads]).toEqual([4, 2]);
  });
});

describe('the p2m', () => {
  test('a never-touched gfn reads zero and gets no frame', () => {
    const { host, p2m } = vm();
    const free = host.freeGuestCount;
    expect([p2m.read8(0x3005), p2m.read32(0x3004), p2m.peek32(0x3004)]).toEqual([0, 0, 0]);
    expect(host.freeGuestCount).toBe(free);
    expect(p2m.resident(3)).toBe(-1);
  });

  test('swap-out and migration refuse gfns outside RAM and gfns with no frame', () => {
    const { p2m } = vm();
    p2m.write8(0, 1);
    for (const gfn of [-1, p2m.frames, 5]) {
      expect(p2m.swapOut(gfn)).toBe(false);
      expect(p2m.migrate(gfn)).toBe(false);
    }
    expect(p2m.swapOut(0)).toBe(true);
    expect(p2m.swapOut(0)).toBe(false); // already out
    expect(p2m.migrate(0)).toBe(false);
    expect([p2m.swapOuts, p2m.migrations]).toEqual([1, 0]);
  });

  test('migration copies the page to another frame and frees the old one', () => {
    const { host, p2m } = vm();
    p2m.write32(0x1008, 0x12345678);
    const old = p2m.resident(1);
    expect(p2m.migrate(1)).toBe(true);
    expect(p2m.resident(1)).not.toBe(old);
    expect(p2m.read32(0x1008)).toBe(0x12345678);
    expect([host.owner[old], p2m.migrations]).toEqual([0, 1]);
  });

  test('an image chunk past the end of RAM is cut there (open bus)', () => {
    const { p2m } = vm(8, 2 * PAGE_SIZE);
    p2m.load(2 * PAGE_SIZE - 2, new Uint8Array([1, 2, 3, 4]));
    expect([p2m.read8(2 * PAGE_SIZE - 2), p2m.read8(2 * PAGE_SIZE - 1)]).toEqual([1, 2]);
    expect(p2m.frames).toBe(2);
  });

  test('a snapshot assembles RAM from frames, the swap disk and zero pages', () => {
    const { p2m } = vm(8, 4 * PAGE_SIZE);
    p2m.write8(0x0001, 0xaa);
    p2m.write8(0x1002, 0xbb);
    p2m.swapOut(1);
    const into = new Uint8Array(4 * PAGE_SIZE).fill(0xee);
    p2m.snapshot(into);
    expect([into[0x0001], into[0x1002], into[0x2003], into[0x3fff]]).toEqual([0xaa, 0xbb, 0, 0]);
  });
});
