// EPT of VMX-lite (DESIGN §4 "a second walk gpa→hpa with its own violations"), after
// Intel SDM vol. 3C ch. 28.3 but in a format of its own, 2 levels like VX32 paging:
//
//   EPT pointer   hpa of a 4 KiB EPT directory (low 12 bits ignored)
//   directory     1024 entries, indexed by gpa[31:22]; entry → an EPT table
//   table         1024 entries, indexed by gpa[21:12]; entry → a host frame
//   entry         bit 0 R, bit 1 W, bit 2 X; bits 3–11 reserved (must be 0);
//                 bits 12–31 hfn (of the next table, or of the page)
//
// - An entry with R = W = X = 0 is not present: EPT violation (SDM 28.3.3.2).
// - A present entry with a reserved bit set, or W without R, is an EPT misconfiguration
//   (SDM 28.3.3.1). Tables live in host RAM; a read outside RAM is open bus (all ones),
//   which is a misconfiguration, so a wild EPT pointer cannot reach the device.
// - Permissions AND across the two levels (SDM 28.3.2). Reads need R, writes W, fetches
//   X. No large EPT pages, no EPT A/D bits.
// - Every entry read is one memory reference (`refs`); there is no paging-structure
//   cache, so a 2-D walk with guest paging costs (2+1)(2+1)−1 = 8 references (mmu.ts).
// - The TLB caches the combined gva→hpa (mmu.ts); changing an EPT entry needs `invept`
//   (Vmx.invept) before the guest can see it — on purpose, as on real hardware.

import * as arch from './arch.ts';
import type { PhysMem } from './memory.ts';

// Bound once: a module-local const reads faster than an imported binding (cpu.ts says more).
const { FRAME_MASK } = arch;

export const EPT_R = 1;
export const EPT_W = 2;
export const EPT_X = 4;
export const EPT_RWX = EPT_R | EPT_W | EPT_X;
const EPT_RSVD = 0xff8;

/**
 * A failed `translate` returns ~cause (always < 0): the effective permissions found
 * before the failure (0 when an entry was not present) at EPT_FAIL_PERM_SHIFT, and
 * EPT_FAIL_MISCONFIG for a misconfiguration. These are the bits of mmu.ts's walk result
 * layout, which adds the access, the stage and the guest frame.
 */
export const EPT_FAIL_PERM_SHIFT = 3;
export const EPT_FAIL_MISCONFIG = 1 << 6;

/** An EPT entry pointing at `hpa` (4 KiB-aligned) with permissions `perms`. */
export const eptEntry = (hpa: number, perms: number): number => (hpa & FRAME_MASK) | (perms & EPT_RWX) | 0;

export class Ept {
  /** hpa of the EPT directory. */
  root = 0;

  /** Counters (not guest-visible): translations and entry reads. */
  walks = 0;
  refs = 0;

  constructor(private readonly mem: PhysMem) {}

  /**
   * gpa → host frame for an access needing `need` (EPT_R, EPT_W or EPT_X). Returns the
   * frame's hpa with the effective permissions in its low bits (`hfn << 12 | RWX`, ≥ 0),
   * or ~cause (see EPT_FAIL_*). Side effects: the counters, and only when `count` (a
   * debugger's or an audit's probe passes false: STYLE §5).
   */
  translate(gpa: number, need: number, count: boolean): number {
    const mem = this.mem;
    if (count) {
      this.walks++;
      this.refs++;
    }
    const dir = mem.read32Walk(((this.root & FRAME_MASK) + ((gpa >>> 22) << 2)) >>> 0);
    const dirPerms = dir & EPT_RWX;
    if (dirPerms === 0) return ~0;
    if (misconfigured(dir)) return ~EPT_FAIL_MISCONFIG;
    if (count) this.refs++;
    const ent = mem.read32Walk(((dir & FRAME_MASK) + (((gpa >>> 12) & 0x3ff) << 2)) >>> 0);
    const entPerms = ent & EPT_RWX;
    if (entPerms === 0) return ~0;
    if (misconfigured(ent)) return ~EPT_FAIL_MISCONFIG;
    const perms = dirPerms & entPerms;
    if ((perms & need) === 0) return ~(perms << EPT_FAIL_PERM_SHIFT);
    return ((ent & FRAME_MASK) | perms) >>> 0;
  }
}

/** SDM 28.3.3.1: reserved bits set, or write permission without read. */
function misconfigured(entry: number): boolean {
  return (entry & EPT_RSVD) !== 0 || (entry & (EPT_R | EPT_W)) === EPT_W;
}
