// The audit of the vmx-ept VMM (DESIGN §6.13 for nested paging): the invariants E1–E3 of
// ept-map.ts, the p2m and host-memory invariants of src/vmm (reused, not restated), and
// isolation: no EPT leaf reaches a frame that is not this VM's RAM for that very gfn, or
// one of the two read-only pool frames. Looks only; an audit never changes what it audits.

import { ACC_READ } from '../../hw/arch.ts';
import type { Mmu } from '../../hw/mmu.ts';
import { TLB_FRAME, type Tlb } from '../../hw/tlb.ts';
import { auditP2m } from '../core/p2m.ts';
import { PAGE_SIZE } from '../../hw/arch.ts';
import { auditHostMemory, type HostMemory } from '../core/host-memory.ts';
import type { P2m } from '../core/p2m.ts';
import { type EptMap, isMmioGpa } from './ept-map.ts';

// The entries the audit expects, written out here from the EPT format (src/hw/ept.ts: bit
// 0 R, bit 1 W, bit 2 X, bits 12–31 the frame) and DESIGN §6.9 — never taken from the
// constants ept-map.ts builds its entries with: a check that moves with the bug checks
// nothing.
/** Permission bits of an entry. */
const PERMS = 0b111;
/** A directory entry: read, write and execute, so the leaf alone decides. */
const DIR_PERMS = 0b111;
/** An MMIO page (§6.9): W without R, the misconfiguration every access exits on, no frame. */
const MMIO_LEAF = 0x0000_0002;
/** The zero frame and the all-ones frame: read and fetch, never write. */
const READ_FETCH = 0b101;

export interface EptAuditSubject {
  host: HostMemory;
  p2m: P2m;
  ept: EptMap;
  /** The host TLB and MMU, when the TLB currently holds this VM's translations. */
  tlb: Tlb | null;
  mmu: Mmu | null;
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16);

export function auditEpt(s: EptAuditSubject): string[] {
  return [...auditHostMemory(s.host), ...auditP2m(s), ...auditFrames(s), ...auditLeaves(s), ...auditTlb(s)];
}

/** E1: the VMM's frames are pool frames with the contents their names promise. */
function auditFrames({ host, ept }: EptAuditSubject): string[] {
  const out: string[] = [];
  const ram = host.mem.ram;
  for (const [what, hfn] of [
    ['root', ept.rootHfn],
    ['zero frame', ept.zeroHfn],
    ['all-ones frame', ept.onesHfn],
    ...[...ept.tables].map(([d, t]) => [`table ${d}`, t] as const),
  ] as const) {
    if (!host.isPoolFrame(hfn)) out.push(`E1: EPT ${what} in host frame ${hfn}, outside the VMM pool`);
  }
  for (let i = 0; i < PAGE_SIZE; i++) {
    if (ram[ept.zeroHfn * PAGE_SIZE + i] !== 0) {
      out.push(`E1: the zero frame has byte ${hex(ram[ept.zeroHfn * PAGE_SIZE + i]!)} at offset ${i}`);
      break;
    }
  }
  for (let i = 0; i < PAGE_SIZE; i++) {
    if (ram[ept.onesHfn * PAGE_SIZE + i] !== 0xff) {
      out.push(`E1: the all-ones frame has byte ${hex(ram[ept.onesHfn * PAGE_SIZE + i]!)} at offset ${i}`);
      break;
    }
  }
  return out;
}

/** E2 and isolation: each present leaf agrees with the p2m and names only what it may. */
function auditLeaves({ host, p2m, ept }: EptAuditSubject): string[] {
  const out: string[] = [];
  const ram32 = host.mem.ram32;
  for (let d = 0; d < 1024; d++) {
    const de = ram32[(ept.rootHfn * PAGE_SIZE + d * 4) >>> 2]!;
    const t = ept.tables.get(d);
    if (t === undefined) {
      if (de !== 0) out.push(`E2: directory entry ${d} = ${hex(de)} with no table of this VM`);
      continue;
    }
    if (de >>> 12 !== t || (de & PERMS) !== DIR_PERMS) out.push(`E2: directory entry ${d} = ${hex(de)}, table in frame ${t}`);
    for (let i = 0; i < 1024; i++) {
      const e = ram32[(t * PAGE_SIZE + i * 4) >>> 2]!;
      const perms = e & PERMS;
      if (perms === 0) {
        if (e !== 0) out.push(`E2: non-present leaf ${hex(e)}`);
        continue;
      }
      const gpa = ((d << 22) | (i << 12)) >>> 0;
      const gfn = gpa >>> 12;
      const hfn = e >>> 12;
      const at = `leaf for gpa ${hex(gpa)} = ${hex(e)}`;
      if (gpa < p2m.ramBytes) {
        const resident = p2m.resident(gfn);
        if (hfn === ept.zeroHfn) {
          if (resident >= 0 || p2m.isSwapped(gfn)) out.push(`E2: ${at} maps the zero frame, but the gfn has data (p2m ${resident})`);
          if (perms !== READ_FETCH) out.push(`E2: ${at}: the zero frame must be read/execute only`);
        } else if (hfn !== resident) out.push(`E2: ${at} maps host frame ${hfn}, p2m says ${resident}`);
        else if (host.owner[hfn] !== p2m.vmId) out.push(`isolation: ${at} reaches host frame ${hfn} owned by ${host.owner[hfn]}`);
      } else if (isMmioGpa(gpa)) {
        if (e !== MMIO_LEAF) out.push(`E2: ${at}: the MMIO window must carry the misconfiguration marker`);
      } else if (hfn !== ept.onesHfn || perms !== READ_FETCH)
        out.push(`isolation: ${at}: open bus must map the all-ones frame read/execute only`);
    }
  }
  return out;
}

/** E3: every valid TLB entry is what a side-effect-free 2-D walk gives now (TLB ⊆ EPT). */
function auditTlb({ tlb, mmu }: EptAuditSubject): string[] {
  if (tlb === null || mmu === null) return [];
  const out: string[] = [];
  tlb.forEachValid((vpn, t) => {
    const hpa = mmu.probe(vpn << 12, ACC_READ);
    if (hpa < 0 || hpa >>> 12 !== (t & TLB_FRAME) >>> 12)
      out.push(`E3: TLB entry for gva ${hex(vpn << 12)} = ${hex(t)} but the 2-D walk gives ${hpa < 0 ? 'no translation' : hex(hpa)}`);
    return out.length > 8;
  });
  return out;
}
