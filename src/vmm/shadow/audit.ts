// The audit (DESIGN §6.13, after Xen's `sh_audit`): every invariant of the shadow MMU,
// the p2m and host memory, checked from scratch against the guest's tables as they are
// in memory now. Looks only (`peek32`: no swap-in, no A/D): an audit never changes what
// it audits. Returns the violations; an empty list is a clean audit.
//
// Independent of the guest walker (core/walker.ts) by choice, as sh_audit is of the
// shadow code: it reads the gpte at each spte's own slot of the shadowed table and
// composes the permissions itself, so a walker bug (the catalog's `pde-perms-ignored`,
// `us-not-enforced`…) cannot vouch for the sptes built from its own results.

import { CR0_PG, CR0_WP, CR4_PSE, PAGE_SIZE, PDE_PS, PTE_A, PTE_D, PTE_P, PTE_RW, PTE_US } from '../../hw/arch.ts';
import { gpteToGfn, largeGpdeToGfn } from '../core/walker.ts';
import { auditHostMemory, type HostMemory } from '../core/host-memory.ts';
import { auditP2m, type P2m } from '../core/p2m.ts';
import { ROLE_DIRECT, ROLE_PHYS, ROLE_PSE, ROLE_RW, ROLE_US, ROLE_WP, type ShadowMmu, type ShadowPage } from './mmu.ts';
import type { Tlb } from '../../hw/tlb.ts';
import { TLB_FRAME, TLB_U, TLB_V, TLB_WS, TLB_WU } from '../../hw/tlb.ts';

export interface AuditSubject {
  host: HostMemory;
  p2m: P2m;
  shadow: ShadowMmu;
  /** The host TLB, when it currently holds this VM's translations. */
  tlb: Tlb | null;
  /** The guest's control registers as it wrote them (for S8), when known. */
  guest?: { cr0: number; cr4: number };
}

export function audit(s: AuditSubject): string[] {
  return [...auditHostMemory(s.host), ...auditP2m(s), ...auditShadow(s), ...auditMode(s), ...auditTlb(s)];
}

/**
 * S8 (DESIGN §6.1, §6.7): the active root is the one for the guest's paging mode now —
 * read from the guest's CR0 and CR4 (bits of DESIGN §3.1), not from the MMU's own view of
 * the mode: a physical-mode root exactly when CR0.PG is clear, else a root whose role
 * holds CR0.WP and CR4.PSE as they are. Its children's roles inherit both (S2), so a
 * shadow built under another mode cannot serve this one.
 */
export function auditMode({ shadow, guest }: AuditSubject): string[] {
  const root = shadow.active;
  if (guest === undefined || root === null) return [];
  const pg = (guest.cr0 & CR0_PG) !== 0;
  const phys = (root.role & ROLE_PHYS) !== 0;
  if (!pg) return phys ? [] : [`S8: guest paging is off but the active root (gfn ${root.gfn}) is not the physical-mode shadow`];
  if (phys) return ['S8: guest paging is on but the active root is the physical-mode shadow'];
  const out: string[] = [];
  if (((guest.cr0 & CR0_WP) !== 0) !== ((root.role & ROLE_WP) !== 0))
    out.push(`S8: guest CR0.WP = ${+((guest.cr0 & CR0_WP) !== 0)} but the active root's role has WP = ${+((root.role & ROLE_WP) !== 0)}`);
  if (((guest.cr4 & CR4_PSE) !== 0) !== ((root.role & ROLE_PSE) !== 0))
    out.push(
      `S8: guest CR4.PSE = ${+((guest.cr4 & CR4_PSE) !== 0)} but the active root's role has PSE = ${+((root.role & ROLE_PSE) !== 0)}`,
    );
  return out;
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16);

/** S1–S7 of shadow/mmu.ts. */
export function auditShadow({ host, p2m, shadow }: AuditSubject): string[] {
  const out: string[] = [];
  const ram32 = host.mem.ram32;
  const rd = (gpa: number): number => (gpa < p2m.ramBytes ? p2m.peek32(gpa) : -1);
  const seen = new Map<number, number[]>(); // gfn → leaf spte hpas found (S4)
  const parentsFound = new Map<ShadowPage, number[]>();
  // S3 from the shadow pages themselves, not from the MMU's own index of them (`byGfn`):
  // a stale index must not hide a writable guest table.
  const traced = tracedTables(shadow);
  out.push(...auditIndexes(shadow, traced));

  if (shadow.active && !shadow.byHfn.has(shadow.active.hfn)) out.push('S6: the active root is not a live shadow page');
  for (const sp of shadow.pages.values()) {
    if (!host.isPoolFrame(sp.hfn)) out.push(`S1: shadow page (gfn ${sp.gfn}) lives in host frame ${sp.hfn}, not in the VMM pool`);
    if (shadow.byHfn.get(sp.hfn) !== sp) out.push(`S1: shadow page at frame ${sp.hfn} missing from byHfn`);
    const base = sp.hfn * PAGE_SIZE;
    for (let i = 0; i < 1024; i++) {
      const addr = base + i * 4;
      const e = ram32[addr >>> 2]!;
      if ((e & PTE_P) === 0) continue;
      if (sp.level === 2) {
        const child = shadow.byHfn.get(e >>> 12);
        if (!child) {
          out.push(`S5: spde ${hex(addr)} points at frame ${e >>> 12}, not a shadow page`);
          continue;
        }
        (parentsFound.get(child) ?? parentsFound.set(child, []).get(child)!).push(addr);
        if ((sp.role & ROLE_PHYS) !== 0) continue;
        const gpde = rd(sp.gfn * PAGE_SIZE + i * 4);
        if ((gpde & PTE_P) === 0) out.push(`S2: spde ${i} of root gfn ${sp.gfn} present, gpde ${hex(gpde)} not`);
        else if ((gpde & PTE_A) === 0) out.push(`S2: spde ${i} of root gfn ${sp.gfn} present, gpde A clear`);
        const large = (sp.role & ROLE_PSE) !== 0 && (gpde & PDE_PS) !== 0;
        const wantGfn = large ? largeGpdeToGfn(gpde) : gpteToGfn(gpde);
        const wantRole =
          (large ? ROLE_DIRECT : 0) | (gpde & PTE_US ? ROLE_US : 0) | (gpde & PTE_RW ? ROLE_RW : 0) | (sp.role & (ROLE_WP | ROLE_PSE));
        if (child.gfn !== wantGfn || child.role !== wantRole)
          out.push(
            `S2: spde ${i} of root gfn ${sp.gfn} → shadow (gfn ${child.gfn}, role ${child.role}), gpde ${hex(gpde)} wants (gfn ${wantGfn}, role ${wantRole})`,
          );
      } else {
        const gfn = sp.gfns[i]!;
        (seen.get(gfn) ?? seen.set(gfn, []).get(gfn)!).push(addr);
        const hfn = e >>> 12;
        if (gfn < 0 || gfn >= p2m.frames) {
          // Open bus may only be the shared all-ones frame, read-only (mmu.ts `onesHfn`).
          if (hfn !== shadow.onesHfn || (e & PTE_RW) !== 0)
            out.push(`S2: spte ${hex(addr)} maps gfn ${gfn} outside guest RAM (host frame ${hfn})`);
          continue;
        }
        if (p2m.resident(gfn) !== hfn)
          out.push(`S2: spte ${hex(addr)} maps gfn ${gfn} to host frame ${hfn}, p2m says ${p2m.resident(gfn)}`);
        if (host.owner[hfn] !== p2m.vmId) out.push(`isolation: spte ${hex(addr)} reaches host frame ${hfn} owned by ${host.owner[hfn]}`);
        if ((e & PTE_RW) !== 0 && traced.has(gfn)) out.push(`S3: spte ${hex(addr)} maps traced gfn ${gfn} writable`);
        out.push(...auditLeaf(sp, i, e, gfn, rd, shadow));
      }
    }
  }
  for (const sp of shadow.pages.values()) {
    const want = (parentsFound.get(sp) ?? [])
      .slice()
      .sort((a, b) => a - b)
      .join();
    const have = sp.parents
      .slice()
      .sort((a, b) => a - b)
      .join();
    if (want !== have) out.push(`S5: shadow page gfn ${sp.gfn} parents [${have}] but spdes [${want}] point at it`);
  }
  // S4: rmap is exactly the inverse of the present leaf sptes.
  for (const [gfn, addrs] of shadow.rmap) {
    const want = (seen.get(gfn) ?? [])
      .slice()
      .sort((a, b) => a - b)
      .join();
    const have = addrs
      .slice()
      .sort((a, b) => a - b)
      .join();
    if (want !== have) out.push(`S4: rmap(${gfn}) = [${have}] but the sptes mapping it are [${want}]`);
    else if (addrs.length === 0) out.push(`S4: rmap(${gfn}) is an empty list (a leak)`);
  }
  for (const gfn of seen.keys()) if (!shadow.rmap.has(gfn)) out.push(`S4: gfn ${gfn} is mapped but has no rmap`);
  return out;
}

/** The guest tables being shadowed (S3): gfn → its non-direct shadow pages. */
function tracedTables(shadow: ShadowMmu): Map<number, ShadowPage[]> {
  const traced = new Map<number, ShadowPage[]>();
  for (const sp of shadow.pages.values()) if (!sp.direct) (traced.get(sp.gfn) ?? traced.set(sp.gfn, []).get(sp.gfn)!).push(sp);
  return traced;
}

/**
 * S1's index `byGfn` names exactly the non-direct pages; S7: shadow memory and the root
 * cache stay within their bounds (DESIGN §6.2, §6.10), and the cached roots are exactly
 * the live level-2 pages, the active one among them.
 */
function auditIndexes(shadow: ShadowMmu, traced: Map<number, ShadowPage[]>): string[] {
  const out: string[] = [];
  for (const [gfn, want] of traced) {
    const have = shadow.byGfn.get(gfn) ?? [];
    if (have.length !== want.length || want.some((sp) => !have.includes(sp)))
      out.push(`S1: byGfn(${gfn}) names ${have.length} shadow pages, ${want.length} shadow it`);
  }
  for (const gfn of shadow.byGfn.keys()) if (!traced.has(gfn)) out.push(`S1: byGfn(${gfn}) is stale: no shadow page of that table is live`);
  const { maxPages, maxRoots } = shadow.opts;
  if (shadow.pages.size > maxPages) out.push(`S7: ${shadow.pages.size} shadow pages, the bound is ${maxPages}`);
  if (shadow.roots.length > maxRoots) out.push(`S7: ${shadow.roots.length} cached roots, the bound is ${maxRoots}`);
  for (const r of shadow.roots)
    if (r.level !== 2 || shadow.byHfn.get(r.hfn) !== r) out.push(`S7: cached root (gfn ${r.gfn}) is not a live level-2 shadow page`);
  for (const sp of shadow.pages.values())
    if (sp.level === 2 && !shadow.roots.includes(sp))
      out.push(`S7: root (gfn ${sp.gfn}) is live but not in the root cache (never evicted by its LRU)`);
  if (shadow.active && !shadow.roots.includes(shadow.active)) out.push('S7: the active root is not in the root cache');
  return out;
}

/** S2 for one leaf: composed guest access, A, D, and the leaf's parents' gpdes. */
function auditLeaf(sp: ShadowPage, i: number, e: number, gfn: number, rd: (gpa: number) => number, shadow: ShadowMmu): string[] {
  if ((sp.role & ROLE_PHYS) !== 0) return gfn === sp.gfn + i ? [] : [`S2: physical-mode spte ${i} of ${sp.gfn} maps gfn ${gfn}`];
  const out: string[] = [];
  const wp = (sp.role & ROLE_WP) !== 0;
  let access = (sp.role & ROLE_US ? PTE_US : 0) | (sp.role & ROLE_RW ? PTE_RW : 0);
  let dirty: boolean;
  if (sp.direct) {
    if (gfn !== sp.gfn + i) out.push(`S2: large-page spte ${i} of gfn ${sp.gfn} maps gfn ${gfn}`);
    // D of a 4 MiB page lives in each parent gpde.
    dirty = sp.parents.length > 0;
    for (const spde of sp.parents) {
      const root = shadow.byHfn.get(Math.floor(spde / PAGE_SIZE));
      if (!root) continue;
      const gpde = rd(root.gfn * PAGE_SIZE + (spde % PAGE_SIZE));
      if ((gpde & PTE_D) === 0) dirty = false;
    }
  } else {
    const gpte = rd(sp.gfn * PAGE_SIZE + i * 4);
    if ((gpte & PTE_P) === 0) return [`S2: spte ${i} of table gfn ${sp.gfn} present, gpte ${hex(gpte)} not`];
    if ((gpte & PTE_A) === 0) out.push(`S2: spte ${i} of table gfn ${sp.gfn} present, gpte A clear`);
    if (gpteToGfn(gpte) !== gfn) out.push(`S2: spte ${i} of table gfn ${sp.gfn} maps gfn ${gfn}, gpte ${hex(gpte)}`);
    access &= gpte;
    dirty = (gpte & PTE_D) !== 0;
  }
  if ((e & PTE_US) !== 0 && (access & PTE_US) === 0) out.push(`S2: spte ${i} of gfn ${sp.gfn} user-accessible, the guest's is not`);
  if ((e & PTE_RW) !== 0) {
    if (!dirty) out.push(`S2: spte ${i} of gfn ${sp.gfn} writable with guest D clear (dirty-bit emulation)`);
    const supervisorOnly = (e & PTE_US) === 0;
    if ((access & PTE_RW) === 0 && !(!wp && supervisorOnly)) out.push(`S2: spte ${i} of gfn ${sp.gfn} writable, the guest's is not`);
  }
  return out;
}

/** S6: every valid host TLB entry agrees with the sptes of the active root (TLB ⊆ sptes). */
export function auditTlb({ host, shadow, tlb }: AuditSubject): string[] {
  if (tlb === null || shadow.active === null) return [];
  const out: string[] = [];
  const ram32 = host.mem.ram32;
  const root = shadow.active.hfn * PAGE_SIZE;
  tlb.forEachValid((vpn, t) => {
    const spde = ram32[(root + (vpn >>> 10) * 4) >>> 2]!;
    const spte = (spde & PTE_P) === 0 ? 0 : ram32[((spde & ~0xfff) + (vpn & 0x3ff) * 4) >>> 2]!;
    const bad =
      (t & TLB_V) === 0 ||
      (spte & PTE_P) === 0 ||
      (spte & ~0xfff) !== (t & TLB_FRAME) ||
      ((t & TLB_U) !== 0 && (spte & PTE_US) === 0) ||
      ((t & (TLB_WU | TLB_WS)) !== 0 && (spte & PTE_RW) === 0);
    if (bad) out.push(`S6: host TLB entry for gva ${hex(vpn << 12)} = ${hex(t)} but spte = ${hex(spte)}`);
    return out.length > 8;
  });
  return out;
}
