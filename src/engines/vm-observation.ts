// The guest-visible parts of a VM that every VMM engine reports the same way (DESIGN §2):
// registers by name, pending vectors, console, device, and RAM assembled from host frames
// and swap only when someone looks. The registers and control state come from wherever
// the engine keeps them (a VMCS, the legacy CPU, a monitor's virtual registers).

import type { Observation, Regs } from '../../spec/observation.ts';

/** DESIGN §2 register order (spec/observation.ts REG_NAMES is a value; src/ takes types only). */
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** What a VM of src/vmm holds of the guest-visible state. */
export interface VmView {
  readonly pending: Uint8Array;
  readonly console: readonly number[];
  readonly device: { readonly counter: number; readonly log: readonly number[] };
  readonly p2m: { snapshot(into: Uint8Array): Uint8Array };
}

export function regsByName(regs: Int32Array): Regs {
  const out = {} as Regs;
  REG_NAMES.forEach((name, i) => (out[name] = regs[i]! >>> 0));
  return out;
}

/**
 * The whole observation: the engine's register and control state, plus pending, console,
 * device and a lazy `ram` (a getter, so lockstep comparison pays for RAM only when it looks).
 */
export function vmObservation(
  vm: VmView,
  ramCopy: Uint8Array,
  state: Omit<Observation, 'pending' | 'console' | 'device' | 'ram'>,
): Observation {
  const pending: number[] = [];
  for (let v = 0; v < 256; v++) if (vm.pending[v] !== 0) pending.push(v);
  let console = '';
  for (let i = 0; i < vm.console.length; i += 4096) console += String.fromCharCode(...vm.console.slice(i, i + 4096));
  const p2m = vm.p2m;
  return {
    ...state,
    pending,
    console,
    device: { counter: vm.device.counter, log: [...vm.device.log] },
    get ram(): Uint8Array {
      return p2m.snapshot(ramCopy);
    },
  };
}

/** What the legacy CPU holds of a guest run by a software VMM (trap-emulate, bt): the real registers. */
export interface LegacyCpuView {
  readonly icount: number;
  readonly regs: Int32Array;
  readonly eip: number;
  readonly trace: readonly Observation['trace'][number][];
}

/** The privileged state such a VMM keeps in software (src/vmm/core/guest-view.ts). */
export interface SoftwareGuestState {
  readonly eflags: number;
  readonly cpl: number;
  readonly cr2: number;
  readonly idtrBase: number;
  readonly idtrLimit: number;
  readonly tr: number;
}

/** The observation of a guest under a software VMM on legacy hardware: real registers, virtual privileged state. */
export function softwareVmmObservation(
  vm: VmView & { readonly cr0: number; readonly cr3: number; readonly cr4: number },
  ramCopy: Uint8Array,
  cpu: LegacyCpuView,
  g: SoftwareGuestState,
  status: Observation['status'],
): Observation {
  return vmObservation(vm, ramCopy, {
    status,
    icount: cpu.icount,
    regs: regsByName(cpu.regs),
    eip: cpu.eip >>> 0,
    eflags: g.eflags >>> 0,
    cpl: g.cpl,
    cr0: vm.cr0 >>> 0,
    cr2: g.cr2 >>> 0,
    cr3: vm.cr3 >>> 0,
    cr4: vm.cr4 >>> 0,
    idtr: { base: g.idtrBase >>> 0, limit: g.idtrLimit },
    tr: g.tr >>> 0,
    trace: cpu.trace.map((t) => ({ ...t })),
  });
}
