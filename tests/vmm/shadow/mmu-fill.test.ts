// The shadow MMU's fill (DESIGN §6.3, §6.6, §6.9, §6.11; src/vmm/README.md "Hidden
// fault" steps 4–7): the leaf spte written for each guest access, dirty-bit emulation
// (for a split 4 MiB page, in every gpde linking it), the CR0.WP = 0 supervisor-write
// case, and a TLB flush whenever a refilled spte loses a permission or its frame.
// Permissions read off DESIGN §3.5.4; a leaf spte is built as KVM's make_spte does:
// P and A always, D preset exactly when writable (the host never sets A/D in a shadow page).

import { describe, expect, test } from 'vitest';
import { PTE_A, PTE_D, PTE_P, PDE_PS, PTE_RW, PTE_US } from '../../../src/hw/arch.ts';
import { audit } from '../../../src/vmm/shadow/audit.ts';
import { PD, PT, RAM, shadowEntries, shadowFixture } from '../shadow-fixture.ts';

const PAGE = 4096;
const RW_D = PTE_RW | PTE_D;

describe('the leaf spte (README: hidden fault step 6)', () => {
  test('read, then write: read-only until the guest D bit is set, then writable with D preset', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, flushes } = f;
    shadow.loadRoot(g);
    expect(fault(0x1000, false, true)).toEqual({ fill: 'mapped' });
    const hfn = p2m.resident(0x11);
    expect(shadowEntries(f, 0x1000).spte).toBe((hfn * PAGE) | PTE_P | PTE_A | PTE_US);
    expect(fault(0x1000, true, true)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x1000).spte).toBe((hfn * PAGE) | PTE_P | PTE_A | PTE_US | RW_D);
    expect(flushes()).toBe(1); // the new root only: gaining RW loses nothing (§6.11)
    expect(shadow.stats.fills).toBe(2);
  });

  test('a supervisor page is mapped without US; a page read-only in the PDE stays read-only even with D set', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, subject } = f;
    p2m.write32(PT + 4 * 9, 0x19000 | PTE_P | PTE_RW); // supervisor, writable
    p2m.write32(PD + 8, PT | PTE_P | PTE_US); // PDE 2 → the PT, read-only: every page under it is
    p2m.write32(PT + 4 * 3, 0x13000 | PTE_P | PTE_RW | PTE_US | PTE_D); // D already set
    shadow.loadRoot(g);
    expect(fault(0x9000, true, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x9000).spte).toBe((p2m.resident(0x19) * PAGE) | PTE_P | PTE_A | RW_D);
    expect(fault(0x803000, false, true)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x803000).spte).toBe((p2m.resident(0x13) * PAGE) | PTE_P | PTE_A | PTE_US);
    expect(fault(0x803000, true, true)).toEqual({ err: 0b111 }); // a true fault: P|W|U, no fill
    expect(audit(subject)).toEqual([]);
  });

  test('open bus: reads map the all-ones pool frame read-only with the guest US; a write is emulated; the frame reads 0xFF', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, host } = f;
    p2m.write32(PT + 4 * 9, RAM | PTE_P | PTE_RW | PTE_US | PTE_D); // gpa = end of RAM
    p2m.write32(PT + 4 * 10, (RAM + PAGE) | PTE_P | PTE_RW | PTE_D); // supervisor
    shadow.loadRoot(g);
    expect(fault(0x9000, false, true)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x9000).spte).toBe((shadow.onesHfn * PAGE) | PTE_P | PTE_A | PTE_US);
    expect(fault(0xa000, false, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0xa000).spte).toBe((shadow.onesHfn * PAGE) | PTE_P | PTE_A);
    expect(fault(0x9000, true, true)).toEqual({ fill: 'emulate' });
    expect(host.isPoolFrame(shadow.onesHfn)).toBe(true);
    const bytes = host.mem.ram.subarray(shadow.onesHfn * PAGE, (shadow.onesHfn + 1) * PAGE);
    expect(bytes.every((b) => b === 0xff)).toBe(true);
  });
});

describe('CR0.WP = 0 (DESIGN §3.5.4: a supervisor write to a read-only page succeeds)', () => {
  test('a user read-only page: supervisor-only writable while the supervisor writes, user-readable read-only otherwise', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, flushes, subject } = f;
    const g0 = { ...g, wp: false };
    p2m.write32(PT + 4 * 9, 0x19000 | PTE_P | PTE_US); // user, read-only
    shadow.loadRoot(g0);
    const hfn = () => p2m.resident(0x19);
    expect(fault(0x9000, false, false, g0)).toEqual({ fill: 'mapped' }); // supervisor read, D clear
    expect(shadowEntries(f, 0x9000).spte).toBe((hfn() * PAGE) | PTE_P | PTE_A | PTE_US);
    expect(fault(0x9000, true, false, g0)).toEqual({ fill: 'mapped' }); // supervisor write: sets D
    expect(p2m.read32(PT + 4 * 9) & PTE_D).toBe(PTE_D);
    expect(shadowEntries(f, 0x9000).spte).toBe((hfn() * PAGE) | PTE_P | PTE_A | RW_D); // US lost: flush 2
    expect(flushes()).toBe(2);
    expect(fault(0x9000, false, true, g0)).toEqual({ fill: 'mapped' }); // user read: RW lost, flush 3
    expect(shadowEntries(f, 0x9000).spte).toBe((hfn() * PAGE) | PTE_P | PTE_A | PTE_US);
    expect(flushes()).toBe(3);
    expect(fault(0x9000, false, false, g0)).toEqual({ fill: 'mapped' }); // supervisor read (D set): still read-only
    expect(shadowEntries(f, 0x9000).spte).toBe((hfn() * PAGE) | PTE_P | PTE_A | PTE_US);
    expect(fault(0x9000, true, true, g0)).toEqual({ err: 0b111 }); // a user write still faults
    expect(flushes()).toBe(3); // an identical refill flushes nothing
    expect(audit(subject)).toEqual([]);
  });

  test('a supervisor read-only page: writable once D is set, for reads too (nothing else may access it)', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault } = f;
    const g0 = { ...g, wp: false };
    p2m.write32(PT + 4 * 9, 0x19000 | PTE_P); // supervisor, read-only, D clear
    p2m.write32(PT + 4 * 10, 0x1a000 | PTE_P | PTE_D); // supervisor, read-only, D set
    shadow.loadRoot(g0);
    expect(fault(0x9000, false, false, g0)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x9000).spte & RW_D).toBe(0);
    expect(fault(0x9000, true, false, g0)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x9000).spte & (RW_D | PTE_US)).toBe(RW_D);
    expect(fault(0xa000, false, false, g0)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0xa000).spte & (RW_D | PTE_US)).toBe(RW_D);
  });

  test('with CR0.WP = 1 the same pages stay read-only, D or not, and a supervisor write is a true fault', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault } = f;
    p2m.write32(PT + 4 * 9, 0x19000 | PTE_P | PTE_US | PTE_D);
    p2m.write32(PT + 4 * 10, 0x1a000 | PTE_P | PTE_D);
    shadow.loadRoot(g);
    expect(fault(0x9000, false, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x9000).spte & (RW_D | PTE_US)).toBe(PTE_US);
    expect(fault(0xa000, false, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0xa000).spte & (RW_D | PTE_US)).toBe(0);
    expect(fault(0x9000, true, false)).toEqual({ err: 0b011 });
  });

  test('a traced gfn stays read-only even for a CR0.WP = 0 supervisor write: the write is emulated', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault } = f;
    const g0 = { ...g, wp: false };
    p2m.write32(PT + 4 * 9, PT | PTE_P | PTE_US); // gva 0x9000 → the PT itself, user read-only
    shadow.loadRoot(g0);
    expect(fault(0x9000, true, false, g0)).toEqual({ fill: 'emulate' });
    expect(shadowEntries(f, 0x9000).spte & PTE_RW).toBe(0);
  });
});

describe('dirty-bit emulation for a split 4 MiB page: writable only while every gpde linking it has D (README step 6)', () => {
  test('a second gpde without D takes RW away from the shared page; a write through the first is emulated until both have D', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, flushes, subject } = f;
    p2m.write32(PD + 8, PTE_P | PTE_RW | PTE_US | PDE_PS); // PDE 2: the same 4 MiB page as PDE 1, D clear
    shadow.loadRoot(g);
    expect(fault(0x410000, true, false)).toEqual({ fill: 'mapped' }); // PDE 1 gets A|D
    expect(shadowEntries(f, 0x410000).spte & RW_D).toBe(RW_D);
    expect(flushes()).toBe(1);
    expect(fault(0x811000, false, false)).toEqual({ fill: 'mapped' }); // links the page under PDE 2 (D clear)
    expect(shadowEntries(f, 0x810000).spde).toBe(shadowEntries(f, 0x410000).spde);
    expect(shadowEntries(f, 0x410000).spte & PTE_RW).toBe(0); // RW lost: flush 2
    expect(flushes()).toBe(2);
    expect(fault(0x410000, true, false)).toEqual({ fill: 'emulate' }); // PDE 2 still clean
    expect(shadowEntries(f, 0x410000).spte & PTE_RW).toBe(0);
    expect(fault(0x810000, true, false)).toEqual({ fill: 'mapped' }); // PDE 2 gets D: both dirty
    expect(p2m.read32(PD + 8) & PTE_D).toBe(PTE_D);
    expect(shadowEntries(f, 0x810000).spte & RW_D).toBe(RW_D);
    expect(audit(subject)).toEqual([]);
  });

  test('a new parent without D over read-only leaves only: nothing lost, nothing flushed', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, flushes } = f;
    p2m.write32(PD + 8, PTE_P | PTE_RW | PTE_US | PDE_PS);
    shadow.loadRoot(g);
    fault(0x410000, false, false);
    fault(0x811000, false, false);
    expect(flushes()).toBe(1);
  });

  test('write-protecting a split page stops at its last leaf, not in the next shadow page', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault } = f;
    p2m.write32(PD + 8, PTE_P | PTE_RW | PTE_US | PDE_PS); // PDE 2: the same 4 MiB page as PDE 1, D clear
    shadow.loadRoot(g);
    fault(0x401000, false, false); // the split page
    fault(0x0, true, false); // the PT's page, leaf 0 writable
    const [split, pt] = [...shadow.pages.values()].filter((sp) => sp.level === 1);
    expect(pt!.hfn).toBe(split!.hfn + 1); // the precondition: the next pool frame
    fault(0x811000, false, false); // PDE 2 without D links the split page: it is write-protected
    expect(shadowEntries(f, 0x0).spte & RW_D).toBe(RW_D);
  });

  test('a new parent with D set takes nothing away', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, flushes } = f;
    p2m.write32(PD + 8, PTE_P | PTE_RW | PTE_US | PDE_PS | PTE_A | PTE_D);
    shadow.loadRoot(g);
    fault(0x410000, true, false);
    fault(0x811000, false, false);
    expect(shadowEntries(f, 0x410000).spte & RW_D).toBe(RW_D);
    expect(fault(0x811000, true, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x811000).spte & RW_D).toBe(RW_D);
    expect(flushes()).toBe(1);
  });

  test('the parents are looked up in each root: a gpde of another directory without D counts too', () => {
    const f = shadowFixture({ maxRoots: 2 });
    const { shadow, g, p2m, fault } = f;
    const g2 = { ...g, cr3: 0x3000 };
    p2m.write32(0x3000 + 4, PTE_P | PTE_RW | PTE_US | PDE_PS); // directory 0x3000, PDE 1: the same 4 MiB page, D clear
    shadow.loadRoot(g2);
    fault(0x411000, false, false, g2);
    shadow.loadRoot(g);
    expect(fault(0x410000, true, false)).toEqual({ fill: 'emulate' });
    shadow.loadRoot(g2);
    expect(fault(0x411000, true, false, g2)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x411000).spte & RW_D).toBe(RW_D);
  });
});

describe('a refilled spte (README step 6: flush the TLB if it lost a permission; §6.11)', () => {
  test('a new frame for the same leaf moves its rmap entry and flushes', () => {
    const f = shadowFixture();
    const { shadow, g, p2m, fault, flushes, subject } = f;
    shadow.loadRoot(g);
    fault(0x1000, true, false);
    fault(0x2000, false, false);
    fault(0x3000, false, false);
    const leaf = shadowEntries(f, 0x1000);
    expect(flushes()).toBe(1);
    // The guest retargets PTE 1 (an untraced store, as under a lost trace); the next fill rewrites the leaf.
    p2m.write32(PT + 4, 0x21000 | PTE_P | PTE_RW | PTE_US | PTE_D);
    expect(fault(0x1000, true, false)).toEqual({ fill: 'mapped' });
    expect(shadowEntries(f, 0x1000).spte).toBe((p2m.resident(0x21) * PAGE) | PTE_P | PTE_A | PTE_US | RW_D);
    expect(shadowEntries(f, 0x1000).spte >>> 12).not.toBe(leaf.spte >>> 12);
    const addr = (leaf.spde & ~0xfff) + 4;
    expect(shadow.rmapOf(0x11)).toEqual([]);
    expect(shadow.rmapOf(0x21)).toEqual([addr]);
    expect(flushes()).toBe(2);
    expect(audit(subject)).toEqual([]);
  });
});
