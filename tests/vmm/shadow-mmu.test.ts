// Unit tests of the shadow MMU's foundations (DESIGN §6): host memory and the p2m, the
// software guest walker, shadow fill, tracing, rmap, eviction, and the audit catching a
// planted violation of each invariant. Expected values come from DESIGN §3.5 and §6.

import { describe, expect, test } from 'vitest';
import { GuestWalker, type GuestPaging } from '../../src/vmm/core/walker.ts';
import { VmmBugs } from '../../src/vmm/core/bugs.ts';
import { audit } from '../../src/vmm/shadow/audit.ts';
import { PD, PT, RAM, shadowFixture, type FixtureOptions } from './shadow-fixture.ts';
import {
  ACC_READ,
  ACC_USER,
  ACC_WRITE,
  PDE_PS,
  PFEC_P,
  PFEC_RSVD,
  PFEC_U,
  PFEC_W,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_RW,
  PTE_US,
} from '../../src/hw/arch.ts';

function setup(opts: FixtureOptions = {}) {
  const f = shadowFixture(opts);
  const { walker, shadow, g } = f;
  const fault = (gva: number, access: number) => {
    const rec = walker.walk(g, gva, access, true);
    if (!rec.ok) return { err: rec.err } as const;
    return { fill: shadow.fill(g, gva, rec, access) } as const;
  };
  return { ...f, fault };
}

describe('p2m and host memory (DESIGN §6.8)', () => {
  test('lazy allocation: untouched gfns read zero and hold no frame', () => {
    const { p2m, host } = setup();
    const before = host.freeGuestCount;
    expect(p2m.read32(0x30000)).toBe(0);
    expect(host.freeGuestCount).toBe(before);
    p2m.write32(0x30000, 0x1234);
    expect(host.freeGuestCount).toBe(before - 1);
  });

  test('swap-out then swap-in lands in a different frame with the same bytes', () => {
    const { p2m, host } = setup();
    p2m.write32(0x20000, 0xdeadbeef);
    const hfn = p2m.resident(0x20);
    expect(p2m.swapOut(0x20)).toBe(true);
    expect(p2m.resident(0x20)).toBe(-1);
    p2m.write32(0x21000, 1); // takes the freed frame
    expect(p2m.read32(0x20000) | 0).toBe(0xdeadbeef | 0);
    expect(p2m.resident(0x20)).not.toBe(hfn);
    expect(host.swap.used).toBe(0);
  });

  test('migration moves the frame and keeps the bytes', () => {
    const { p2m } = setup();
    p2m.write32(0x20004, 77);
    const hfn = p2m.resident(0x20);
    expect(p2m.migrate(0x20)).toBe(true);
    expect(p2m.resident(0x20)).not.toBe(hfn);
    expect(p2m.read32(0x20004)).toBe(77);
  });

  test('overcommit: 64 guest frames of RAM on 4 host frames, every byte kept', () => {
    const { p2m, host } = setup({ guestFrames: 4 });
    for (let gfn = 0; gfn < 64; gfn++) p2m.write32(gfn * 4096 + 8, gfn * 3 + 1);
    for (let gfn = 0; gfn < 64; gfn++) expect(p2m.read32(gfn * 4096 + 8)).toBe(gfn * 3 + 1);
    expect(host.evictions).toBeGreaterThan(50);
  });
});

describe('the guest walker (DESIGN §3.5)', () => {
  test('sets PDE.A then PTE.A, and D only for writes', () => {
    const { walker, g, p2m } = setup();
    expect(walker.walk(g, 0x1000, ACC_USER, true).gpa).toBe(0x11000);
    expect(p2m.read32(PD) & PTE_A).toBe(PTE_A);
    expect(p2m.read32(PT + 4) & (PTE_A | PTE_D)).toBe(PTE_A);
    walker.walk(g, 0x1000, ACC_WRITE | ACC_USER, true);
    expect(p2m.read32(PT + 4) & PTE_D).toBe(PTE_D);
  });

  test('a faulting walk sets no A/D and composes the error code', () => {
    const { walker, g, p2m } = setup();
    p2m.write32(PT + 4, 0x11000 | PTE_P | PTE_US); // read-only
    const r = walker.walk(g, 0x1000, ACC_WRITE | ACC_USER, true);
    expect(r.ok).toBe(false);
    expect(r.err).toBe(PFEC_P | PFEC_W | PFEC_U);
    expect(p2m.read32(PD) & PTE_A).toBe(0);
    expect(walker.walk(g, 0x9000, ACC_READ, true).err).toBe(0); // not present
  });

  test('4 MiB pages: reserved bits give RSVD, D lands in the PDE', () => {
    const { walker, g, p2m } = setup();
    expect(walker.walk(g, 0x401234, ACC_WRITE, true).gpa).toBe(0x1234);
    expect(p2m.read32(PD + 4) & (PTE_A | PTE_D)).toBe(PTE_A | PTE_D);
    p2m.write32(PD + 4, PTE_P | PTE_RW | PDE_PS | 0x2000);
    expect(walker.walk(g, 0x400000, ACC_READ, true).err).toBe(PFEC_P | PFEC_RSVD);
  });

  test('a swapped-out page table is faulted back in by the walk', () => {
    const { walker, g, p2m } = setup();
    p2m.swapOut(PT >>> 12);
    expect(walker.walk(g, 0x2000, ACC_READ, true).gpa).toBe(0x12000);
    expect(p2m.resident(PT >>> 12)).toBeGreaterThanOrEqual(0);
  });
});

describe('shadow fill, tracing, rmap, eviction (DESIGN §6.1–6.11)', () => {
  test('a read fill maps read-only until the guest D bit is set (dirty-bit emulation)', () => {
    const { fault, shadow, g, p2m, subject } = setup();
    shadow.loadRoot(g);
    expect(fault(0x1000, ACC_USER)).toEqual({ fill: 'mapped' });
    const spte = (addr: number) => subject.host.mem.ram32[addr >>> 2]!;
    const leaf = shadow.rmapOf(0x11)[0]!;
    expect(spte(leaf) & PTE_RW).toBe(0);
    expect(fault(0x1000, ACC_WRITE | ACC_USER)).toEqual({ fill: 'mapped' });
    expect(spte(leaf) & PTE_RW).toBe(PTE_RW);
    expect(spte(leaf) >>> 12).toBe(p2m.resident(0x11));
    expect(audit(subject)).toEqual([]);
  });

  test('a shadowed table is write-protected and a traced write zaps its sptes', () => {
    const { fault, shadow, g, p2m, subject } = setup();
    shadow.loadRoot(g);
    fault(0x1000, ACC_READ);
    // 0x8000 maps the table itself: the write must be emulated, never mapped writable.
    expect(fault(0x8000, ACC_WRITE)).toEqual({ fill: 'emulate' });
    expect(audit(subject)).toEqual([]);
    p2m.write32(PT + 4, 0x13000 | PTE_P | PTE_RW | PTE_US); // the emulated store
    shadow.tracedWrite(PT + 4, 4);
    expect(shadow.rmapOf(0x11)).toEqual([]);
    expect(audit(subject)).toEqual([]);
  });

  test('a page that becomes a table loses write permission everywhere', () => {
    const { fault, shadow, g, p2m, subject } = setup();
    shadow.loadRoot(g);
    p2m.write32(PT + 4 * 9, 0x7000 | PTE_P | PTE_RW | PTE_US);
    fault(0x9000, ACC_WRITE); // 0x7000 mapped writable
    const leaf = shadow.rmapOf(7)[0]!;
    expect(subject.host.mem.ram32[leaf >>> 2]! & PTE_RW).toBe(PTE_RW);
    p2m.write32(PD + 8, 0x7000 | PTE_P | PTE_RW | PTE_US); // PDE 2 → 0x7000 as a table
    p2m.write32(0x7000, 0x15000 | PTE_P | PTE_RW | PTE_US);
    shadow.tracedWrite(PD + 8, 4);
    fault(0x800000, ACC_READ); // shadows gfn 7
    expect(subject.host.mem.ram32[leaf >>> 2]! & PTE_RW).toBe(0);
    expect(shadow.stats.writeProtects).toBe(1); // one gfn lost RW, in one spte
    expect(audit(subject)).toEqual([]);
  });

  test('swap-out zaps every spte of the frame through the rmap', () => {
    const { fault, shadow, g, p2m, subject } = setup();
    shadow.loadRoot(g);
    fault(0x1000, ACC_WRITE);
    fault(0x401000 + 0x10000, ACC_READ); // the 4 MiB alias of gfn 0x11
    expect(shadow.rmapOf(0x11).length).toBe(2);
    p2m.swapOut(0x11);
    expect(shadow.rmapOf(0x11)).toEqual([]);
    expect(audit(subject)).toEqual([]);
  });

  test('the rmap-missed-on-swap-out bug is caught by the audit', () => {
    const { fault, shadow, g, p2m, subject } = setup({ bugs: ['rmap-missed-on-swap-out'] });
    p2m.unmap = () => {}; // the bug as the VM wires it: swap-out skips the rmap walk
    shadow.loadRoot(g);
    fault(0x1000, ACC_WRITE);
    p2m.swapOut(0x11);
    expect(audit(subject).join('\n')).toMatch(/S2: spte .* maps gfn 17 to host frame/);
  });

  test('eviction is bounded and never drops the active root', () => {
    const { fault, shadow, g, subject } = setup({ maxPages: 4 });
    shadow.loadRoot(g);
    for (let pdi = 2; pdi < 12; pdi++) {
      subject.p2m.write32(PD + 4 * pdi, PT | PTE_P | PTE_RW | (pdi & 1 ? PTE_US : 0));
      fault(pdi << 22, ACC_READ);
      expect(shadow.pages.size).toBeLessThanOrEqual(4);
      expect(shadow.active).not.toBeNull();
    }
    const evictable = shadow.pages.size - 1;
    expect(shadow.evict(100)).toBe(evictable); // all but the active root, and no more
    expect(shadow.pages.size).toBe(1);
    expect(audit(subject)).toEqual([]);
  });

  test('the audit finds a planted writable spte of a traced gfn and a broken rmap', () => {
    const { fault, shadow, g, subject } = setup();
    shadow.loadRoot(g);
    fault(0x8000, ACC_READ);
    const leaf = shadow.rmapOf(PT >>> 12)[0]!;
    subject.host.mem.ram32[leaf >>> 2]! |= PTE_RW;
    expect(audit(subject).join('\n')).toMatch(/S3: .* traced gfn 6 writable/);
    shadow.rmap.clear();
    expect(audit(subject).join('\n')).toMatch(/S4:/);
  });

  test('physical mode maps gpa = gva through the p2m; MMIO is never mapped; open bus reads map the all-ones frame read-only', () => {
    const { shadow, subject } = setup();
    const off: GuestPaging = { pg: false, wp: false, pse: false, cr3: 0 };
    shadow.loadRoot(off);
    const w = new GuestWalker(subject.p2m, new VmmBugs());
    expect(shadow.fill(off, 0x3000, w.walk(off, 0x3000, ACC_WRITE, true), ACC_WRITE)).toBe('mapped');
    expect(shadow.fill(off, 0xfee00000, w.walk(off, 0xfee00000, ACC_READ, true), ACC_READ)).toBe('emulate');
    // DESIGN §3.2: open bus reads 0xFF and drops writes — reads run natively on a
    // read-only frame of 0xFF bytes, writes are emulated.
    expect(shadow.fill(off, RAM, w.walk(off, RAM, ACC_READ, true), ACC_READ)).toBe('mapped');
    expect(shadow.fill(off, RAM + 0x1000, w.walk(off, RAM + 0x1000, ACC_WRITE, true), ACC_WRITE)).toBe('emulate');
    expect(audit(subject)).toEqual([]);
  });
});

describe('counters and replacement policy (DESIGN §6.2, §6.10; reported by popek bench)', () => {
  test('each event counts once, derived step by step', () => {
    const { fault, shadow, g, p2m, flushes } = setup();
    shadow.loadRoot(g); // root miss; page 1 (the PD); a new active root flushes the TLB
    fault(0x1000, ACC_READ); // fill 1; page 2 (the PT); gfn 0x11 read-only (D clear)
    fault(0x8000, ACC_READ); // fill 2; the PT's own gfn, read-only
    fault(0x1000, ACC_WRITE); // fill 3; D now set: RW gained, nothing lost, no flush
    p2m.write32(PT + 4, 0x13000 | PTE_P | PTE_RW | PTE_US);
    shadow.tracedWrite(PT + 4, 4); // traced write 1 zaps spte 1 (flush 2)
    shadow.loadRoot(g); // root hit; same root, no flush
    expect(shadow.evict(1)).toBe(1); // the PT's page: spte 8 zapped (flush 3), page zapped (flush 4)
    expect(shadow.stats).toEqual({
      fills: 3,
      pagesCreated: 2,
      pagesZapped: 1,
      sptesZapped: 2,
      writeProtects: 0,
      tlbFlushes: 4,
      evictions: 1,
      rootHits: 1,
      rootMisses: 1,
      tracedWrites: 1,
      unshadowed: 0,
    });
    expect(flushes()).toBe(4);
  });

  test('eviction takes the least recently used page, whatever the order the pages were made in', () => {
    const { fault, shadow, g, p2m } = setup();
    p2m.write32(PD + 8, 0x7000 | PTE_P | PTE_RW | PTE_US); // PDE 2 → a second table, gfn 7
    p2m.write32(0x7000, 0x20000 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x1000, ACC_READ); // made first: the PT's page
    fault(0x400000, ACC_READ); // second: the split 4 MiB page (direct)
    fault(0x800000, ACC_READ); // third: gfn 7's page
    fault(0x2000, ACC_READ); // the first and the third used again: the second is the LRU
    fault(0x800000, ACC_READ);
    expect(shadow.evict(1)).toBe(1);
    expect([...shadow.pages.values()].map((sp) => [sp.gfn, sp.direct])).toEqual([
      [PD >>> 12, false],
      [PT >>> 12, false],
      [7, false],
    ]);
  });

  test('the root cache is an LRU of maxRoots (2 here): a third address space drops the least recent', () => {
    const { shadow, g, subject } = setup();
    const as = (cr3: number): GuestPaging => ({ ...g, cr3 });
    shadow.loadRoot(as(0x5000));
    shadow.loadRoot(as(0x3000));
    shadow.loadRoot(as(0x5000)); // hit: 0x5000 is now the most recent
    shadow.loadRoot(as(0x4000)); // drops 0x3000
    expect(shadow.roots.map((r) => r.gfn)).toEqual([5, 4]);
    shadow.loadRoot(as(0x3000)); // miss again; drops 0x5000
    expect(shadow.roots.map((r) => r.gfn)).toEqual([4, 3]);
    expect(shadow.stats.rootHits).toBe(1);
    expect(shadow.stats.rootMisses).toBe(4);
    expect(audit(subject)).toEqual([]);
  });
});

describe('the audit finds each planted violation (DESIGN §6.13)', () => {
  test('S1/S3: a stale byGfn index neither passes nor hides a writable table', () => {
    const { fault, shadow, g, subject } = setup();
    shadow.loadRoot(g);
    fault(0x8000, ACC_READ);
    shadow.byGfn.delete(PT >>> 12);
    expect(audit(subject).join('\n')).toMatch(/S1: byGfn\(6\) names 0 shadow pages, 1 shadow it/);
    expect(shadow.isTraced(PT >>> 12)).toBe(false); // the MMU itself is fooled...
    subject.host.mem.ram32[shadow.rmapOf(PT >>> 12)[0]! >>> 2]! |= PTE_RW;
    expect(audit(subject).join('\n')).toMatch(/S3: .* traced gfn 6 writable/); // ...the audit is not
  });

  test('S4: an empty rmap list is a leak', () => {
    const { shadow, g, subject } = setup();
    shadow.loadRoot(g);
    shadow.rmap.set(0x20, []);
    expect(audit(subject)).toEqual(['S4: rmap(32) is an empty list (a leak)']);
  });

  test('S7: bounds and the root cache', () => {
    const { fault, shadow, g, subject } = setup();
    shadow.loadRoot(g);
    fault(0x1000, ACC_READ);
    shadow.opts.maxPages = 1;
    expect(audit(subject)).toEqual(['S7: 2 shadow pages, the bound is 1']);
    shadow.opts.maxPages = 12;
    shadow.roots.length = 0;
    expect(audit(subject)).toEqual([
      'S7: root (gfn 5) is live but not in the root cache (never evicted by its LRU)',
      'S7: the active root is not in the root cache',
    ]);
  });
});

describe('unshadowing a page no longer used as a table (DESIGN §6.5)', () => {
  test('three emulated stores with no fill through it unshadow a table; the active root stays', () => {
    const { fault, shadow, g, subject } = setup();
    shadow.loadRoot(g);
    fault(0x1000, ACC_READ); // shadows the PD (root) and PT (gfn 6)
    expect(shadow.isTraced(PT >>> 12)).toBe(true);
    for (let i = 0; i < 3; i++) shadow.tracedWrite(PT + 0x100 + 4 * i, 4);
    expect(shadow.isTraced(PT >>> 12)).toBe(false);
    expect(shadow.stats.unshadowed).toBe(1);
    for (let i = 0; i < 5; i++) shadow.tracedWrite(PD + 0x100, 4);
    expect(shadow.active).not.toBeNull();
    expect(shadow.isTraced(PD >>> 12)).toBe(true);
    expect(audit(subject)).toEqual([]);
  });
});
