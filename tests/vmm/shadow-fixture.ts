// One VM's shadow MMU on a small host, with guest paging on, for the unit tests of the
// shadow MMU and its audit (shadow-mmu.test.ts, audit-planted.test.ts):
//   PD at 0x5000: PDE 0 → the PT at 0x6000 (user, writable); PDE 1 → a 4 MiB page at 0;
//   PT: PTE k (k < 8) → gfn 0x10+k (user, writable); PTE 8 → the PT itself (gva 0x8000).
// 64 guest frames and 16 pool frames; a shadow budget of 12 pages and 2 cached roots
// (each can be changed).

import { ACC_USER, ACC_WRITE, PDE_PS, PTE_P, PTE_RW, PTE_US } from '../../src/hw/arch.ts';
import { VmmBugs } from '../../src/vmm/core/bugs.ts';
import { HostMemory } from '../../src/vmm/core/host-memory.ts';
import { P2m } from '../../src/vmm/core/p2m.ts';
import { ShadowMmu } from '../../src/vmm/shadow/mmu.ts';
import { GuestWalker, type GuestPaging } from '../../src/vmm/core/walker.ts';

export const RAM = 0x40000; // 64 guest frames
export const PD = 0x5000;
export const PT = 0x6000;

export interface FixtureOptions {
  guestFrames?: number;
  bugs?: string[];
  maxPages?: number;
  maxRoots?: number;
  poolFrames?: number;
}

export function shadowFixture(opts: FixtureOptions = {}) {
  const host = new HostMemory({ guestFrames: opts.guestFrames ?? 64, poolFrames: opts.poolFrames ?? 16 });
  const bugs = new VmmBugs(opts.bugs);
  let flushes = 0;
  const p2m = P2m.register(host, RAM);
  const shadow = new ShadowMmu(host, p2m, bugs, { maxPages: opts.maxPages ?? 12, maxRoots: opts.maxRoots ?? 2 }, () => flushes++);
  p2m.unmap = (gfn) => shadow.zapGfn(gfn);
  const walker = new GuestWalker(p2m, bugs);
  const g: GuestPaging = { pg: true, wp: true, pse: true, cr3: PD };
  p2m.write32(PD, PT | PTE_P | PTE_RW | PTE_US);
  p2m.write32(PD + 4, PTE_P | PTE_RW | PTE_US | PDE_PS);
  for (let k = 0; k < 8; k++) p2m.write32(PT + 4 * k, ((0x10 + k) << 12) | PTE_P | PTE_RW | PTE_US);
  p2m.write32(PT + 4 * 8, PT | PTE_P | PTE_RW | PTE_US);
  const subject = { host, p2m, shadow, tlb: null };
  /** A hidden fault at `gva` as the vCPU handles one: the guest walk, then the fill (or the guest's #PF error code). */
  const fault = (gva: number, write: boolean, user: boolean, paging: GuestPaging = g) => {
    const access = (write ? ACC_WRITE : 0) | (user ? ACC_USER : 0);
    const rec = walker.walk(paging, gva, access, true);
    if (!rec.ok) return { err: rec.err } as const;
    return { fill: shadow.fill(paging, gva, rec, access) } as const;
  };
  return { host, p2m, shadow, walker, g, subject, fault, flushes: () => flushes };
}

/**
 * The spde and the leaf spte the host MMU reads for `gva` under the active root, read
 * from host RAM as the hardware walk does (DESIGN §3.5 steps 1 and 3; shadow PDEs never
 * have PS): 0 where an entry is not present.
 */
export function shadowEntries(f: { host: HostMemory; shadow: ShadowMmu }, gva: number): { spde: number; spte: number } {
  const ram32 = f.host.mem.ram32;
  const spde = ram32[(f.shadow.rootHpa + 4 * (gva >>> 22)) >>> 2]! | 0;
  if ((spde & PTE_P) === 0) return { spde, spte: 0 };
  const spte = ram32[((spde & ~0xfff) + 4 * ((gva >>> 12) & 0x3ff)) >>> 2]! | 0;
  return { spde, spte };
}
