// The vmx-ept half of the known-bug catalog (DESIGN §8, issue 7 item 5): named switches,
// off by default, each modelled on a real nested-paging VMM bug, read only on exit paths
// and host events (never per guest instruction). `popek check --engine vmx-ept --bug
// NAME` switches one on; src/engines/registry.ts lists them under the `vmx-ept` engine.

import { EMULATOR_BUGS, VMM_BUGS } from '../core/bugs.ts';

export const EPT_BUGS = {
  'ept-violation-as-pf':
    'an EPT violation is reflected to the guest as a #PF (error code from the exit qualification, CR2 = the gva) instead of being resolved by the VMM: lazy allocation, swap and MMIO become guest-visible faults',
  'no-invept-after-swap-out':
    'swap-out and migration clear the EPT entry but skip invept: the TLB keeps translating the gva to the frame the host just gave away (missing TLB flush after a zap, KVM TDP MMU class)',
  'zero-page-mapped-writable':
    'an untouched gfn is mapped to the shared zero frame with write permission, on a write as on a read: the write lands in the one frame every untouched page reads (copy-on-write missing, Dirty COW class)',
  'open-bus-mapped-writable':
    'an open-bus page is mapped to the all-ones frame with write permission: a guest write to open bus is kept instead of dropped, and later reads of any open-bus address see it (unbacked gpa mapped to a writable scratch frame)',
} as const;

export type EptBug = keyof typeof EPT_BUGS;

export const isEptBug = (name: string): name is EptBug => Object.hasOwn(EPT_BUGS, name);

/** The catalog rows vmx-ept understands: its own, and those of the emulator it shares with src/vmm/core. */
export const EPT_VM_BUGS: Readonly<Record<string, string>> = {
  ...EPT_BUGS,
  ...Object.fromEntries(EMULATOR_BUGS.map((b) => [b, VMM_BUGS[b]])),
};

/** The switches as plain booleans. */
export class EptBugs {
  readonly violationAsPf: boolean;
  readonly noInveptAfterSwapOut: boolean;
  readonly zeroPageWritable: boolean;
  readonly openBusWritable: boolean;
  /** The emulator's switches that are on (core/bugs.ts EMULATOR_BUGS), for its `VmmBugs`. */
  readonly emulator: readonly string[];

  constructor(names: readonly string[] = []) {
    const on = (b: EptBug): boolean => names.includes(b);
    this.emulator = EMULATOR_BUGS.filter((b) => names.includes(b));
    this.violationAsPf = on('ept-violation-as-pf');
    this.noInveptAfterSwapOut = on('no-invept-after-swap-out');
    this.zeroPageWritable = on('zero-page-mapped-writable');
    this.openBusWritable = on('open-bus-mapped-writable');
  }
}
