// Known hardware bugs that can be switched on (DESIGN §8, issue "show the suite has
// teeth"): each is a real class of bug in a CPU model or emulator, off by default, and
// read only on slow paths (control-register writes, table stores, faults, sti), so the
// switch costs the interpreter nothing. The VMM catalog grows on the same mechanism.

export const HW_BUGS = {
  'tlb-no-flush-on-cr3': 'mov cr3 does not flush the TLB: the next address space runs on the old translations',
  'tlb-stale-after-pt-write': 'a store to a live page table does not flush the TLB (VX32 has no TLB semantically, DESIGN §3.6)',
  'pf-no-user-bit': 'the #PF error code lacks the U bit for faults at cpl 3 (the CVE-2009-2267 class: a wrong error code)',
  'sti-shadow-ignored': 'an interrupt may be delivered right after sti, inside the STI shadow (DESIGN §3.10.6)',
} as const;

export type HwBug = keyof typeof HW_BUGS;

export const isHwBug = (name: string): name is HwBug => Object.hasOwn(HW_BUGS, name);

/** The switches as plain booleans, for the few places that consult them. */
export class HwBugs {
  readonly noCr3Flush: boolean;
  readonly stalePtWrite: boolean;
  readonly pfNoUserBit: boolean;
  readonly stiShadowIgnored: boolean;

  constructor(names: readonly string[] = []) {
    const on = new Set(names);
    this.noCr3Flush = on.has('tlb-no-flush-on-cr3');
    this.stalePtWrite = on.has('tlb-stale-after-pt-write');
    this.pfNoUserBit = on.has('pf-no-user-bit');
    this.stiShadowIgnored = on.has('sti-shadow-ignored');
  }
}
