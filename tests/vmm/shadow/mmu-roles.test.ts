// The shadow MMU's pages and roots (DESIGN §6.1, §6.2, §6.7, §6.10; src/vmm/README.md
// "Guest CR3 write" and "Hidden fault" step 2): one shadow page per (gfn, role), every
// role bit making a distinct page, and the bounded LRU of roots. Expected values are read
// off those texts and the fixture's guest tables (tests/vmm/shadow-fixture.ts).

import { describe, expect, test } from 'vitest';
import { PTE_A, PTE_P, PDE_PS, PTE_RW, PTE_US } from '../../../src/hw/arch.ts';
import type { GuestPaging } from '../../../src/vmm/core/walker.ts';
import { audit } from '../../../src/vmm/shadow/audit.ts';
import { ROLE_DIRECT, ROLE_L2, ROLE_PHYS, ROLE_PSE, ROLE_RW, ROLE_US, ROLE_WP } from '../../../src/vmm/shadow/mmu.ts';
import { PD, PT, shadowEntries, shadowFixture } from '../shadow-fixture.ts';

const PAGE = 4096;

describe('roots: one per (CR3 gfn, level 2 + WP + PSE), or the physical-mode root (README: guest CR3 write)', () => {
  test('CR0.WP and CR4.PSE each make a distinct root of the same directory', () => {
    const f = shadowFixture({ maxRoots: 4 });
    const { shadow, g, subject } = f;
    expect(shadow.rootHpa).toBe(0); // no root yet: the host CR3 names nothing
    const both = shadow.loadRoot(g);
    expect([both.gfn, both.role, both.level, both.direct]).toEqual([PD >>> 12, ROLE_L2 | ROLE_WP | ROLE_PSE, 2, false]);
    expect(shadow.rootHpa).toBe(both.hfn * PAGE);
    const noWp = shadow.loadRoot({ ...g, wp: false });
    expect([noWp.gfn, noWp.role]).toEqual([PD >>> 12, ROLE_L2 | ROLE_PSE]);
    const noPse = shadow.loadRoot({ ...g, pse: false });
    expect([noPse.gfn, noPse.role]).toEqual([PD >>> 12, ROLE_L2 | ROLE_WP]);
    expect(new Set([both.hfn, noWp.hfn, noPse.hfn]).size).toBe(3);
    expect(shadow.rootHpa).toBe(noPse.hfn * PAGE);
    // Three shadow pages of one guest table: the gfn is traced once, by all three.
    expect(shadow.byGfn.get(PD >>> 12)).toEqual([both, noWp, noPse]);
    expect(shadow.loadRoot(g)).toBe(both); // a hit, not a fourth page
    expect(shadow.pages.size).toBe(3);
    expect(audit(subject)).toEqual([]);
  });

  test('paging off: the physical-mode root (gfn 0, direct + phys), whatever CR3, WP and PSE say; not traced', () => {
    const { shadow } = shadowFixture();
    const off: GuestPaging = { pg: false, wp: true, pse: true, cr3: PD };
    const phys = shadow.loadRoot(off);
    expect([phys.gfn, phys.role, phys.direct]).toEqual([0, ROLE_L2 | ROLE_DIRECT | ROLE_PHYS, true]);
    expect(shadow.loadRoot({ pg: false, wp: false, pse: false, cr3: 0 })).toBe(phys);
    expect(shadow.isTraced(0)).toBe(false);
    expect(shadow.isTraced(PD >>> 12)).toBe(false);
    expect(shadow.byGfn.size).toBe(0);
  });

  test('counters: a miss makes a page, a hit reuses it; a new active root flushes the TLB, reloading the same one does not', () => {
    const { shadow, g, flushes } = shadowFixture();
    shadow.loadRoot(g); // miss, first root: flush 1
    shadow.loadRoot(g); // hit, same root: no flush
    shadow.loadRoot({ ...g, cr3: 0x3000 }); // miss, another root: flush 2 (its gfn maps nothing to write-protect)
    shadow.loadRoot(g); // hit, switch back: flush 3
    expect([shadow.stats.rootHits, shadow.stats.rootMisses, shadow.stats.pagesCreated]).toEqual([2, 2, 2]);
    expect(flushes()).toBe(3);
    expect(shadow.stats.tlbFlushes).toBe(3);
  });

  test('maxRoots = 1 (drop and rebuild): every switch zaps the old tree, never the new root', () => {
    const f = shadowFixture({ maxRoots: 1 });
    const { shadow, g, fault, subject } = f;
    const a = shadow.loadRoot(g);
    expect(fault(0x1000, false, false)).toEqual({ fill: 'mapped' }); // the PT (gfn 6) under root a
    const b = shadow.loadRoot({ ...g, cr3: 0x3000 });
    expect(shadow.roots).toEqual([b]);
    expect(shadow.active).toBe(b);
    // README eviction step 2: the dropped root's children are unlinked, not zapped (the
    // PT is still a guest table, traced, and may be reached again).
    const pt = [...shadow.pages.values()].find((sp) => sp.level === 1)!;
    expect([pt.gfn, pt.parents]).toEqual([PT >>> 12, []]);
    expect(shadow.isTraced(PD >>> 12)).toBe(false); // a's gfn is no longer shadowed
    expect(shadow.isTraced(0x3000 >>> 12)).toBe(true);
    expect(shadow.byHfn.get(b.hfn)).toBe(b);
    expect(shadow.byHfn.get(a.hfn)).toBeUndefined();
    shadow.loadRoot({ ...g, cr3: 0x3000 }); // the same root again: nothing dropped
    expect(shadow.roots).toEqual([b]);
    expect(shadow.byHfn.get(b.hfn)).toBe(b);
    expect(audit(subject)).toEqual([]);
  });

  test('a root hit is a use: the re-loaded root is not the LRU page', () => {
    const { shadow, g } = shadowFixture({ maxRoots: 3 });
    const a = shadow.loadRoot(g);
    const b = shadow.loadRoot({ ...g, cr3: 0x3000 });
    shadow.loadRoot(g); // a used again, after b
    shadow.loadRoot({ ...g, cr3: 0x4000 });
    expect(shadow.evict(1)).toBe(1);
    expect(shadow.byHfn.get(b.hfn)).toBeUndefined();
    expect(shadow.byHfn.get(a.hfn)).toBe(a);
  });

  test('a fill uses its root: a root filled through more recently than a table is not the LRU once inactive', () => {
    const f = shadowFixture({ maxRoots: 2 });
    const { shadow, g, p2m, fault } = f;
    p2m.write32(PD + 8, 0x7000 | PTE_P | PTE_RW | PTE_US); // PDE 2 → a second table, gfn 7
    p2m.write32(0x7000, 0x20000 | PTE_P | PTE_RW | PTE_US);
    shadow.loadRoot(g);
    fault(0x1000, false, false); // the PT's page (gfn 6)
    fault(0x800000, false, false); // gfn 7's page, made after it
    fault(0x2000, false, false); // through the root and the PT again: gfn 7's page is now the LRU
    shadow.loadRoot({ ...g, cr3: 0x3000 }); // root 5 inactive, but used after gfn 7's page
    expect(shadow.evict(1)).toBe(1);
    expect(shadow.isTraced(7)).toBe(false);
    expect(shadow.isTraced(PD >>> 12)).toBe(true);
    expect(shadow.isTraced(PT >>> 12)).toBe(true);
  });
});

describe('level-1 pages: (table gfn, access of the gpde + WP + PSE), split pages direct (README: hidden fault step 2)', () => {
  test('one guest table reached through gpdes of each access gets a page per access; equal access shares one', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, subject } = f;
    // PDEs 2..5 → the same PT (gfn 6) as PDE 0 (US|RW), with RW, US, none, and US|RW again.
    const access = [PTE_RW, PTE_US, 0, PTE_US | PTE_RW];
    access.forEach((a, k) => p2m.write32(PD + 4 * (2 + k), PT | PTE_P | a));
    shadow.loadRoot(g);
    fault(0x1000, false, false); // through PDE 0 (US|RW)
    for (let k = 0; k < access.length; k++) expect(fault(((2 + k) << 22) + 0x1000, false, false)).toEqual({ fill: 'mapped' });
    const l1 = [...shadow.pages.values()].filter((sp) => sp.level === 1);
    const modes = ROLE_WP | ROLE_PSE;
    expect(l1.map((sp) => [sp.gfn, sp.role])).toEqual([
      [PT >>> 12, ROLE_US | ROLE_RW | modes],
      [PT >>> 12, ROLE_RW | modes],
      [PT >>> 12, ROLE_US | modes],
      [PT >>> 12, modes],
    ]);
    // PDE 0 and PDE 5 (both US|RW) link the same shadow page: two parents, one spde value.
    const shared = l1[0]!;
    const root = shadow.active!;
    expect(shared.parents).toEqual([root.hfn * PAGE + 0, root.hfn * PAGE + 4 * 5]);
    expect(shadowEntries(f, 0x1000).spde).toBe(shadowEntries(f, (5 << 22) + 0x1000).spde);
    // Shadow PDEs are fully permissive; the access lives in the child's role (mmu.ts).
    expect(shadowEntries(f, (4 << 22) + 0x1000).spde).toBe((l1[3]!.hfn * PAGE) | PTE_P | PTE_RW | PTE_US | PTE_A);
    expect(shadow.byGfn.get(PT >>> 12)).toEqual(l1);
    expect(audit(subject)).toEqual([]);
  });

  test('a table shadowed under CR0.WP = 0 or CR4.PSE = 0 is another page', () => {
    const f = shadowFixture({ maxRoots: 4 });
    const { shadow, g, fault } = f;
    for (const paging of [g, { ...g, wp: false }, { ...g, pse: false }]) {
      shadow.loadRoot(paging);
      expect(fault(0x1000, false, false, paging)).toEqual({ fill: 'mapped' });
    }
    const l1 = [...shadow.pages.values()].filter((sp) => sp.level === 1);
    expect(l1.map((sp) => [sp.gfn, sp.role])).toEqual([
      [PT >>> 12, ROLE_US | ROLE_RW | ROLE_WP | ROLE_PSE],
      [PT >>> 12, ROLE_US | ROLE_RW | ROLE_PSE],
      [PT >>> 12, ROLE_US | ROLE_RW | ROLE_WP],
    ]);
  });

  test('a 4 MiB page is split into a direct page keyed by its first gfn; it is not traced', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, subject } = f;
    p2m.write32(PD + 8, 0x00400000 | PTE_P | PTE_US | PDE_PS); // PDE 2 → the 4 MiB page at 4 MiB, user read-only
    shadow.loadRoot(g);
    expect(fault(0x400000 + 0x12000, false, false)).toEqual({ fill: 'mapped' }); // PDE 1: gpa 0x12000
    expect(fault(0x800000 + 0x3000, false, false)).toEqual({ fill: 'mapped' }); // PDE 2: gpa 0x403000, open bus
    const l1 = [...shadow.pages.values()].filter((sp) => sp.level === 1);
    expect(l1.map((sp) => [sp.gfn, sp.role, sp.direct])).toEqual([
      [0, ROLE_DIRECT | ROLE_US | ROLE_RW | ROLE_WP | ROLE_PSE, true],
      [0x400, ROLE_DIRECT | ROLE_US | ROLE_WP | ROLE_PSE, true],
    ]);
    // The leaf maps the split page's gfn + the index: gpa 0x12000 → gfn 0x12 (S2).
    expect(shadow.rmapOf(0x12)).toEqual([l1[0]!.hfn * PAGE + 4 * 0x12]);
    expect(shadowEntries(f, 0x412000).spte >>> 12).toBe(p2m.resident(0x12));
    expect(shadowEntries(f, 0x803000).spte >>> 12).toBe(shadow.onesHfn);
    expect(shadow.isTraced(0)).toBe(false);
    expect(shadow.isTraced(0x400)).toBe(false);
    expect(audit(subject)).toEqual([]);
  });

  test('4 MiB pages at different addresses are different split pages, whatever their access', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault } = f;
    p2m.write32(PD + 8, 0x00800000 | PTE_P | PTE_RW | PDE_PS); // PDE 2 → the 4 MiB page at 8 MiB (gfn 2048), supervisor
    shadow.loadRoot(g);
    fault(0x401000, false, false); // PDE 1: gfn 0, user
    fault(0x801000, false, false); // PDE 2: gpa 0x801000, open bus
    const l1 = [...shadow.pages.values()].filter((sp) => sp.level === 1);
    expect(l1.map((sp) => sp.gfn)).toEqual([0, 2048]);
    expect(shadowEntries(f, 0x801000).spte >>> 12).toBe(shadow.onesHfn);
    expect(shadowEntries(f, 0x401000).spte >>> 12).toBe(p2m.resident(1));
  });

  test('paging off: level-1 pages of the physical map are (pdi·1024, direct + phys), mapping gpa = gva', () => {
    const f = shadowFixture();
    const { shadow, p2m, fault } = f;
    const off: GuestPaging = { pg: false, wp: true, pse: true, cr3: 0 };
    shadow.loadRoot(off);
    expect(fault(0x23000, true, false, off)).toEqual({ fill: 'mapped' });
    expect(fault(0x401000, false, false, off)).toEqual({ fill: 'mapped' }); // pdi 1, open bus
    const l1 = [...shadow.pages.values()].filter((sp) => sp.level === 1);
    expect(l1.map((sp) => [sp.gfn, sp.role & (ROLE_DIRECT | ROLE_PHYS | ROLE_L2 | ROLE_WP | ROLE_PSE)])).toEqual([
      [0, ROLE_DIRECT | ROLE_PHYS],
      [1024, ROLE_DIRECT | ROLE_PHYS],
    ]);
    expect(shadowEntries(f, 0x23000).spte >>> 12).toBe(p2m.resident(0x23));
    expect(shadow.rmapOf(0x23)).toEqual([l1[0]!.hfn * PAGE + 4 * 0x23]);
    expect(shadowEntries(f, 0x401000).spte >>> 12).toBe(shadow.onesHfn);
  });
});
