// The shadow MMU's memory tracing, zaps and eviction (DESIGN §6.5, §6.8, §6.10, §6.11;
// src/vmm/README.md "Traced write", "Swap-out", "Eviction"), and the catalog bugs that
// live in it (DESIGN §8, src/vmm/core/bugs.ts: each bug's text says what it must do).
// Expected values are read off those texts and the fixture's guest tables.

import { describe, expect, test } from 'vitest';
import { PTE_D, PTE_P, PDE_PS, PTE_RW, PTE_US } from '../../../src/hw/arch.ts';
import { audit } from '../../../src/vmm/shadow/audit.ts';
import type { ShadowPage } from '../../../src/vmm/shadow/mmu.ts';
import { PD, PT, RAM, shadowEntries, shadowFixture, type FixtureOptions } from '../shadow-fixture.ts';

const PAGE = 4096;
const T7 = 0x7000; // a second guest table (gfn 7), linked by PDE 2 where a test wants it

function setup(opts: FixtureOptions = {}) {
  const f = shadowFixture(opts);
  const { p2m } = f;
  p2m.write32(T7, 0x20000 | PTE_P | PTE_RW | PTE_US);
  const pageOf = (gfn: number, level = 1): ShadowPage => [...f.shadow.pages.values()].find((sp) => sp.gfn === gfn && sp.level === level)!;
  const present = (gva: number) => (shadowEntries(f, gva).spte & PTE_P) !== 0;
  return { ...f, pageOf, present };
}

describe('traced write: zap exactly the entries the written bytes cover (README: traced write step 2)', () => {
  test('a 4-byte store zaps its one gpte; a 2-byte store across two gptes zaps those two; no other leaf goes', () => {
    const { shadow, g, fault, present, subject, flushes } = setup();
    shadow.loadRoot(g);
    for (const gva of [0x0, 0x1000, 0x2000, 0x3000]) fault(gva, false, false);
    const before = flushes();
    shadow.tracedWrite(PT + 0xc, 4); // gpte 3
    expect([0x0, 0x1000, 0x2000, 0x3000].map(present)).toEqual([true, true, true, false]);
    shadow.tracedWrite(PT + 7, 2); // bytes 7 and 8: gptes 1 and 2
    expect([0x0, 0x1000, 0x2000, 0x3000].map(present)).toEqual([true, false, false, false]);
    expect([shadow.rmapOf(0x11), shadow.rmapOf(0x12), shadow.rmapOf(0x13)]).toEqual([[], [], []]);
    expect(shadow.rmapOf(0x10).length).toBe(1);
    expect(shadow.stats.sptesZapped).toBe(3);
    expect(shadow.stats.tracedWrites).toBe(2);
    expect(flushes()).toBe(before + 3);
    fault(0x5000, false, false); // a fill through the page (no third store in a row)
    shadow.tracedWrite(PT + 0x18, 1); // gpte 6: not shadowed, nothing to zap, nothing flushed
    expect(shadow.stats.sptesZapped).toBe(3);
    expect(flushes()).toBe(before + 3);
    expect(audit(subject)).toEqual([]);
  });

  test('a store at the end of a table stops at its last gpte (index 1023), not in the next shadow page', () => {
    const { shadow, g, p2m, fault, present, pageOf } = setup();
    p2m.write32(PT + 4 * 1023, 0x1f000 | PTE_P | PTE_RW | PTE_US);
    p2m.write32(PD + 8, T7 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x3ff000, false, false);
    fault(0x800000, false, false); // gfn 7's page, leaf 0
    expect(pageOf(7).hfn).toBe(pageOf(PT >>> 12).hfn + 1); // the precondition: the next pool frame
    shadow.tracedWrite(PT + 0xffe, 4);
    expect(present(0x3ff000)).toBe(false);
    expect(present(0x800000)).toBe(true);
    expect(shadow.rmapOf(0x20).length).toBe(1);
    shadow.zapPage(pageOf(PT >>> 12)); // a whole-page zap stops at index 1023 too
    expect(present(0x800000)).toBe(true);
    expect(shadow.rmapOf(0x20).length).toBe(1);
  });

  test('a store into an empty directory entry or gpte zaps nothing and flushes nothing', () => {
    const { shadow, g, fault, flushes } = setup();
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    const before = flushes();
    shadow.tracedWrite(PD + 0x100, 4);
    shadow.tracedWrite(PT + 0x100, 4);
    expect(flushes()).toBe(before);
    expect(shadow.stats.tracedWrites).toBe(2);
  });

  test('a store into an untraced gfn is no traced write', () => {
    const { shadow, g, fault } = setup();
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    shadow.tracedWrite(0x11000, 4);
    expect(shadow.stats.tracedWrites).toBe(0);
  });

  test('a store into a directory entry unlinks the spde; the table stays shadowed, a split page with no parent left goes', () => {
    const { shadow, g, p2m, fault, pageOf, subject } = setup();
    p2m.write32(PD + 8, PTE_P | PTE_RW | PTE_US | PDE_PS); // PDE 2: the same 4 MiB page as PDE 1
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x401000, false, false);
    fault(0x801000, false, false);
    const pt = pageOf(PT >>> 12);
    const split = pageOf(0);
    expect(split.direct).toBe(true);
    expect(split.parents.length).toBe(2);
    shadow.tracedWrite(PD, 4); // PDE 0
    expect(shadowEntries(subject, 0x1000).spde).toBe(0);
    expect(pt.parents).toEqual([]);
    expect(shadow.byHfn.get(pt.hfn)).toBe(pt);
    expect(shadow.isTraced(PT >>> 12)).toBe(true);
    expect(shadow.stats.pagesZapped).toBe(0);
    shadow.tracedWrite(PD + 4, 4); // PDE 1: the split page keeps its parent under PDE 2
    expect(split.parents.length).toBe(1);
    expect(shadow.byHfn.get(split.hfn)).toBe(split);
    shadow.tracedWrite(PD + 8, 4); // PDE 2: no parent left
    expect(shadow.byHfn.get(split.hfn)).toBeUndefined();
    expect(shadow.rmapOf(1)).toEqual([]);
    expect(shadow.stats.pagesZapped).toBe(1);
    expect(audit(subject)).toEqual([]);
  });
});

describe('write flooding: 3 emulated stores with no fill through the page in between unshadow it (README step 3)', () => {
  test('two stores, a fill, two stores: still a table; the third in a row unshadows it', () => {
    const { shadow, g, fault, present, pageOf, subject } = setup();
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x2000, false, false);
    const pt = pageOf(PT >>> 12);
    shadow.tracedWrite(PT + 0x100, 4);
    shadow.tracedWrite(PT + 0x104, 4);
    fault(0x3000, false, false); // a fill through the PT's page: the count starts again
    shadow.tracedWrite(PT + 0x100, 4);
    shadow.tracedWrite(PT + 0x104, 4);
    expect(shadow.isTraced(PT >>> 12)).toBe(true);
    expect(shadow.stats.unshadowed).toBe(0);
    shadow.tracedWrite(PT + 0x108, 4);
    expect(shadow.isTraced(PT >>> 12)).toBe(false);
    expect(shadow.byHfn.get(pt.hfn)).toBeUndefined();
    expect([shadow.stats.unshadowed, shadow.stats.pagesZapped, shadow.stats.tracedWrites]).toEqual([1, 1, 5]);
    // Its leaves went with it (rmap exact) and its spde is clear.
    expect([present(0x1000), present(0x2000), present(0x3000)]).toEqual([false, false, false]);
    expect(shadowEntries(subject, 0x1000).spde).toBe(0);
    expect(shadow.rmapOf(0x11)).toEqual([]);
    expect(audit(subject)).toEqual([]);
  });

  test('an inactive root floods too; a fill through it while active started its count again', () => {
    const { shadow, g, fault } = setup();
    shadow.loadRoot(g);
    shadow.tracedWrite(PD + 0x100, 4);
    shadow.tracedWrite(PD + 0x100, 4);
    fault(0x1000, false, false); // through root 5: its count is 0 again
    const other = shadow.loadRoot({ ...g, cr3: 0x3000 });
    shadow.tracedWrite(PD + 0x100, 4);
    shadow.tracedWrite(PD + 0x100, 4);
    expect(shadow.isTraced(PD >>> 12)).toBe(true);
    shadow.tracedWrite(PD + 0x100, 4);
    expect(shadow.isTraced(PD >>> 12)).toBe(false);
    expect(shadow.roots).toEqual([other]);
    expect(shadow.stats.unshadowed).toBe(1);
  });
});

describe('zaps and eviction (README: eviction; DESIGN §6.10, §6.11)', () => {
  test('evicting a table page clears its spde, zaps its leaves, zeroes its frame and returns it to the pool', () => {
    const { shadow, g, fault, host, present, pageOf, subject, flushes } = setup();
    shadow.loadRoot(g);
    fault(0x1000, true, false);
    fault(0x2000, false, false);
    const pt = pageOf(PT >>> 12);
    const free = host.freePoolCount;
    const before = flushes();
    expect(shadow.evict(1)).toBe(1);
    expect(shadow.byHfn.get(pt.hfn)).toBeUndefined();
    expect(shadowEntries(subject, 0x1000).spde).toBe(0);
    expect(present(0x1000)).toBe(false);
    expect([shadow.rmapOf(0x11), shadow.rmapOf(0x12)]).toEqual([[], []]);
    expect(shadow.isTraced(PT >>> 12)).toBe(false);
    expect(host.freePoolCount).toBe(free + 1);
    expect(host.mem.ram.subarray(pt.hfn * PAGE, (pt.hfn + 1) * PAGE).every((b) => b === 0)).toBe(true);
    expect([shadow.stats.evictions, shadow.stats.pagesZapped, shadow.stats.sptesZapped]).toEqual([1, 1, 2]);
    expect(flushes()).toBe(before + 3); // two sptes, then the page
    // Used again: a fill shadows the table anew.
    expect(fault(0x1000, false, false)).toEqual({ fill: 'mapped' });
    expect(shadow.isTraced(PT >>> 12)).toBe(true);
    expect(audit(subject)).toEqual([]);
  });

  test('evicting an inactive root unlinks its children; its split page goes with it, its table stays', () => {
    const { shadow, g, fault, pageOf, subject, flushes } = setup();
    const root = shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x401000, false, false);
    const pt = pageOf(PT >>> 12);
    const split = pageOf(0);
    const other = shadow.loadRoot({ ...g, cr3: 0x3000 });
    const before = flushes();
    // LRU: root 5 (used by the fill at 0x401000), then the split page (same tick, made later), the PT before both.
    shadow.evictOne(); // the PT
    expect(shadow.byHfn.get(pt.hfn)).toBeUndefined();
    shadow.evictOne(); // root 5
    expect(shadow.byHfn.get(root.hfn)).toBeUndefined();
    expect(shadow.roots).toEqual([other]);
    expect(shadow.byHfn.get(split.hfn)).toBeUndefined(); // no gpde names it any more
    expect(shadow.rmapOf(0x1)).toEqual([]);
    expect(shadow.stats.pagesZapped).toBe(3);
    expect(shadow.stats.evictions).toBe(2);
    // One flush per zapped spte, unlinked spde and zapped page (README: every zap flushes):
    // the PT (leaf 1, the page), then root 5 (its split page's leaf 1 and the page, the spde, the root).
    expect(shadow.stats.sptesZapped).toBe(2);
    expect(flushes() - before).toBe(2 + 4);
    expect(audit(subject)).toEqual([]);
  });

  test('a dropped physical-mode root leaves its level-1 pages: they depend on no guest table, so nothing goes stale', () => {
    const { shadow, g, fault, subject } = setup();
    const off = { pg: false, wp: false, pse: false, cr3: 0 };
    const phys = shadow.loadRoot(off);
    fault(0x3000, false, false, off);
    const map = [...shadow.pages.values()].find((sp) => sp.level === 1)!;
    shadow.loadRoot(g);
    shadow.zapPage(phys); // as the root LRU or eviction would
    expect(map.parents).toEqual([]);
    expect(shadow.byHfn.get(map.hfn)).toBe(map); // README: only a split 4 MiB page goes with its last parent
    expect(shadow.rmapOf(3).length).toBe(1);
    expect(audit(subject)).toEqual([]);
  });

  test('zapAll drops every page but the active root, each counted once (a cascade is not zapped twice)', () => {
    const { shadow, g, fault, host, subject } = setup();
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x401000, false, false);
    const active = shadow.loadRoot({ ...g, cr3: 0x3000 });
    const free = host.freePoolCount;
    shadow.zapAll(); // root 5 (cascading to the split page) and the PT
    expect([...shadow.pages.values()]).toEqual([active]);
    expect(shadow.stats.pagesZapped).toBe(3);
    expect(host.freePoolCount).toBe(free + 3);
    expect(audit(subject)).toEqual([]);
  });

  test('a gfn shadowed under two roles stays traced until its last page goes', () => {
    const { shadow, g, p2m, fault, subject } = setup();
    p2m.write32(PD + 8, PT | PTE_P | PTE_RW); // PDE 2 → the PT, supervisor: another role
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x801000, false, false);
    const [user, sup] = shadow.byGfn.get(PT >>> 12)!;
    shadow.zapPage(user!);
    expect(shadow.byGfn.get(PT >>> 12)).toEqual([sup]);
    expect(shadow.isTraced(PT >>> 12)).toBe(true);
    shadow.zapPage(sup!);
    expect(shadow.isTraced(PT >>> 12)).toBe(false);
    expect(audit(subject)).toEqual([]);
  });

  test('shadow memory: never more than maxPages; each page past the bound evicts exactly one', () => {
    const { shadow, g, p2m, fault, subject } = setup({ maxPages: 3 });
    p2m.write32(PD + 8, T7 | PTE_P | PTE_RW | PTE_US);
    p2m.write32(PD + 12, 0x3000 | PTE_P | PTE_RW | PTE_US); // PDE 3 → a third table, gfn 3
    p2m.write32(0x3000, 0x21000 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x800000, false, false);
    expect([shadow.pages.size, shadow.stats.evictions]).toEqual([3, 0]);
    fault(0xc00000, false, false);
    expect([shadow.pages.size, shadow.stats.evictions]).toEqual([3, 1]);
    expect(shadow.isTraced(PT >>> 12)).toBe(false); // the LRU
    expect(audit(subject)).toEqual([]);
  });

  test('a full pool evicts the LRU; with nothing evictable the MMU says so instead of looping', () => {
    const small = setup({ poolFrames: 4, maxPages: 100 }); // the all-ones frame + 3 shadow pages
    small.p2m.write32(PD + 8, T7 | PTE_P | PTE_RW | PTE_US);
    small.p2m.write32(PD + 12, 0x3000 | PTE_P | PTE_RW | PTE_US); // PDE 3 → a third table, gfn 3
    small.p2m.write32(0x3000, 0x21000 | PTE_P | PTE_RW | PTE_US);
    small.shadow.loadRoot(small.g);
    small.fault(0x1000, false, false);
    small.fault(0x800000, false, false);
    expect(small.host.freePoolCount).toBe(0);
    expect(small.fault(0xc00000, false, false)).toEqual({ fill: 'mapped' });
    expect(small.shadow.stats.evictions).toBe(1);
    expect(small.shadow.isTraced(PT >>> 12)).toBe(false);
    expect([small.shadow.isTraced(7), small.shadow.isTraced(3)]).toEqual([true, true]);

    // The pool is shared (DESIGN §6.12): another VM holds every other frame.
    const none = setup();
    while (none.host.allocPool() >= 0);
    expect(() => none.shadow.loadRoot(none.g)).toThrow(/pool exhausted/);
    const one = setup({ maxPages: 1 });
    one.shadow.loadRoot(one.g);
    expect(() => one.shadow.loadRoot({ ...one.g, cr3: 0x3000 })).toThrow(/shadow memory exhausted/);
  });
});

describe('the rmap (S4) and zapGfn (README: swap-out)', () => {
  test('three sptes of one gfn: zapping one leaves exactly the other two; zapGfn takes the rest', () => {
    const { shadow, g, p2m, fault, pageOf, subject, present } = setup();
    p2m.write32(PT + 4 * 9, 0x11000 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x9000, false, false);
    fault(0x411000, false, false);
    const [a, b, c] = shadow.rmapOf(0x11);
    expect(new Set([a, b, c]).size).toBe(3);
    const pt = pageOf(PT >>> 12);
    expect(a).toBe(pt.hfn * PAGE + 4);
    shadow.zapSpte(pt, 1);
    expect([...shadow.rmapOf(0x11)].sort()).toEqual([b, c].sort());
    shadow.zapSpte(pt, 1); // already clear: nothing counted
    expect(shadow.stats.sptesZapped).toBe(1);
    shadow.zapGfn(0x11);
    expect(shadow.rmapOf(0x11)).toEqual([]);
    expect(shadow.rmap.has(0x11)).toBe(false);
    expect([present(0x1000), present(0x9000), present(0x411000)]).toEqual([false, false, false]);
    expect(shadow.stats.sptesZapped).toBe(3);
    shadow.zapGfn(0x11); // nothing left: a no-op
    shadow.zapGfn(0x30);
    expect(shadow.stats.sptesZapped).toBe(3);
    expect(audit(subject)).toEqual([]);
  });

  test('a gfn becoming a table while mapped read-only only: nothing to write-protect, nothing flushed', () => {
    const { shadow, g, p2m, fault, flushes } = setup();
    p2m.write32(PT + 4 * 9, T7 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x9000, false, false); // gfn 7 mapped read-only (D clear)
    p2m.write32(PD + 8, T7 | PTE_P | PTE_RW | PTE_US);
    const before = flushes();
    fault(0x800000, false, false); // shadows gfn 7
    expect(shadow.stats.writeProtects).toBe(0);
    expect(flushes()).toBe(before);
  });
});

describe('catalog bugs that live in the shadow MMU (src/vmm/core/bugs.ts)', () => {
  test('no-write-protect: a guest table is mapped writable and the write runs natively', () => {
    const { shadow, g, fault, subject } = setup({ bugs: ['no-write-protect'] });
    shadow.loadRoot(g);
    fault(0x1000, true, false); // gfn 0x11 writable
    expect(fault(0x8000, true, false)).toEqual({ fill: 'mapped' }); // gva 0x8000 is the PT itself
    expect(shadowEntries(subject, 0x8000).spte & PTE_RW).toBe(PTE_RW);
  });

  test('no-write-protect: a page that becomes a table keeps its writable sptes', () => {
    const { shadow, g, p2m, fault, subject } = setup({ bugs: ['no-write-protect'] });
    p2m.write32(PT + 4 * 9, T7 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x9000, true, false);
    p2m.write32(PD + 8, T7 | PTE_P | PTE_RW | PTE_US);
    fault(0x800000, false, false);
    expect(shadowEntries(subject, 0x9000).spte & PTE_RW).toBe(PTE_RW);
    expect(shadow.stats.writeProtects).toBe(0);
  });

  test('cr0-wp-ignored: the shadow follows the walker, so a supervisor write to a read-only page under CR0.WP = 1 maps it writable', () => {
    const { shadow, g, p2m, fault, subject } = setup({ bugs: ['cr0-wp-ignored'] });
    p2m.write32(PT + 4 * 9, 0x19000 | PTE_P | PTE_US); // user, read-only
    shadow.loadRoot(g);
    expect(fault(0x9000, true, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(subject, 0x9000).spte & (PTE_RW | PTE_US)).toBe(PTE_RW);
  });

  test('no-tlb-flush-on-zap: zaps and permission losses flush nothing', () => {
    const { shadow, g, fault, flushes } = setup({ bugs: ['no-tlb-flush-on-zap'] });
    shadow.loadRoot(g);
    fault(0x1000, true, false);
    shadow.tracedWrite(PT + 4, 4);
    shadow.evict(1);
    expect(shadow.stats.sptesZapped).toBeGreaterThan(0);
    expect(flushes()).toBe(0);
    expect(shadow.stats.tlbFlushes).toBe(0);
  });

  test('cache-key-without-role: one table reached through gpdes of different access shares one shadow page', () => {
    const { shadow, g, p2m, fault, subject } = setup({ bugs: ['cache-key-without-role'] });
    p2m.write32(PD + 8, PT | PTE_P | PTE_RW); // supervisor
    shadow.loadRoot(g);
    fault(0x1000, false, false);
    fault(0x801000, false, false);
    expect(shadow.byGfn.get(PT >>> 12)!.length).toBe(1);
    expect(shadowEntries(subject, 0x801000).spde).toBe(shadowEntries(subject, 0x1000).spde);
  });

  test('stale-root-after-eviction: eviction may take the active root', () => {
    const { shadow, g, fault } = setup({ bugs: ['stale-root-after-eviction'] });
    const root = shadow.loadRoot(g);
    fault(0x1000, false, false);
    expect(shadow.evict(100)).toBe(2);
    expect(shadow.byHfn.get(root.hfn)).toBeUndefined();
    expect(shadow.active).toBe(root); // the CPU still runs on the freed frame
  });

  test('shadow-from-guest-ram: shadow pages are frames of guest RAM, taken from the top', () => {
    const { shadow, g, p2m, fault, host } = setup({ bugs: ['shadow-from-guest-ram'] });
    const top = RAM / PAGE - 1;
    p2m.write32(top * PAGE + 0x10, 0x1234 | PTE_P); // guest data where the root will be: a new shadow page starts empty all the same
    const root = shadow.loadRoot(g);
    expect(host.mem.ram.subarray(root.hfn * PAGE, (root.hfn + 1) * PAGE).every((b) => b === 0)).toBe(true);
    fault(0x1000, false, false);
    expect(root.hfn).toBe(p2m.resident(top));
    expect(shadow.active!.hfn).not.toBe(-1);
    const pt = [...shadow.pages.values()].find((sp) => sp.level === 1)!;
    expect(pt.hfn).toBe(p2m.resident(top - 1));
    expect(host.isPoolFrame(root.hfn)).toBe(false);
    const before = host.freePoolCount;
    shadow.evict(1);
    expect(host.freePoolCount).toBe(before); // never returned to the pool
  });

  test('shadow-from-guest-ram: past the bottom frame the stealing starts again from the top', () => {
    const { shadow, g, p2m } = setup({ bugs: ['shadow-from-guest-ram'] });
    const frames = RAM / PAGE;
    const hfns: number[] = [];
    for (let k = 0; k <= frames; k++) hfns.push(shadow.loadRoot({ ...g, cr3: (k % frames) * PAGE }).hfn);
    expect(hfns.slice(0, frames)).toEqual(Array.from({ length: frames }, (_, i) => p2m.resident(frames - 1 - i)));
    expect(hfns[frames]).toBe(p2m.resident(frames - 1));
  });

  test("large-page-split-wrong: the split starts at the faulting page, so its pieces map off by the fault's offset", () => {
    const { shadow, g, p2m, fault, subject } = setup({ bugs: ['large-page-split-wrong'] });
    shadow.loadRoot(g);
    fault(0x412000, false, false); // gpa 0x12000; the split page becomes gfn 0x12 + index
    const split = [...shadow.pages.values()].find((sp) => sp.level === 1)!;
    expect(split.gfn).toBe(0x12);
    expect(shadow.rmapOf(0x24).length).toBe(1);
    expect(shadowEntries(subject, 0x412000).spte >>> 12).toBe(p2m.resident(0x24));
  });

  test('gpte-outside-ram-mapped: a gpte beyond RAM maps the host frame of that number, writes too', () => {
    const { shadow, g, p2m, fault, host, subject } = setup({ bugs: ['gpte-outside-ram-mapped'] });
    const past = RAM / PAGE + 3; // a host frame (guest frames + pool), not this guest's RAM
    expect(past).toBeLessThan(host.mem.frames);
    p2m.write32(PT + 4 * 9, (past * PAGE) | PTE_P | PTE_RW | PTE_US | PTE_D);
    shadow.loadRoot(g);
    expect(fault(0x9000, true, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(subject, 0x9000).spte >>> 12).toBe(past);
    // Beyond every host frame there is nothing to map: open bus as without the bug.
    p2m.write32(PT + 4 * 10, (host.mem.frames * PAGE) | PTE_P | PTE_RW | PTE_US | PTE_D);
    expect(fault(0xa000, true, false)).toEqual({ fill: 'emulate' });
    expect(fault(0xa000, false, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(subject, 0xa000).spte >>> 12).toBe(shadow.onesHfn);
  });
});
