// Exit handling the two VMX vCPUs do alike (shadow/vcpu.ts under shadow paging, ept/vcpu.ts under
// nested paging): retiring an instruction the VMM performed, port I/O, the triple fault,
// re-injecting a delivery an exit interrupted, reflecting a fault the VMM found with the
// escalation of DESIGN §3.7, and a delivery done in software. They differ in what exits
// and how memory is paged, not in these.

import type { EventInfo, ExitInfo } from '../../hw/exits.ts';
import { VEC_DF, VEC_PF } from '../../hw/arch.ts';
import { attempt, chainVectors } from '../../hw/chain.ts';
import { KIND_EXC } from '../../hw/seams.ts';
import type { Vmcs } from '../../hw/vmcs.ts';
import { classOf, deliveryFaultClass, escalation, type EmuFault, type Emulator } from './emulate.ts';
import type { Handled } from './vmx-steps.ts';
import type { GuestPaging } from './walker.ts';

/** What of a VM these handlers touch. */
export interface ExitVm {
  readonly vmcs: Vmcs;
  shutdown: boolean;
  readonly console: number[];
  readonly emulator: Emulator;
  syncPaging(): GuestPaging;
}

/** Retire the exiting instruction (8 bytes, DESIGN §3.3) after the VMM performed it. */
export function skip(vm: ExitVm): Handled {
  const g = vm.vmcs.guest;
  g.eip = (g.eip + 8) | 0;
  g.icount++;
  return 'retired';
}

/** in/out (DESIGN §3.4): port 0xE9 is this VM's console; other ports read all ones. */
export function portIo(vm: ExitVm, exit: ExitInfo): Handled {
  const g = vm.vmcs.guest;
  const q = exit.qualification;
  const port = q >>> 16;
  const reg = (q >>> 8) & 7;
  if ((q & 8) !== 0) g.regs[reg] = port === 0xe9 ? 0xe9 : -1;
  else if (port === 0xe9) vm.console.push(g.regs[reg]! & 0xff);
  return skip(vm);
}

/** Shutdown (DESIGN §3.7): recorded in the trace, the VM stops. The chain ends with the fault that hit #DF. */
export function tripleFault(vm: ExitVm): Handled {
  const g = vm.vmcs.guest;
  vm.shutdown = true;
  g.trace.push({ icount: g.icount, kind: 'shutdown', chain: chainVectors(g.chain) });
  return 'shutdown';
}

/** Re-inject the event an exit interrupted (SDM 27.2.4): its delivery starts over. */
export function reinject(vm: ExitVm, e: EventInfo | null): void {
  if (e !== null) vm.vmcs.injection.set(e.vector, e.kind, e.errorCode, e.instructionLength);
}

/**
 * Inject a fault the VMM found (a true #PF, an emulated instruction's fault), escalating
 * as DESIGN §3.7 when it hit a delivery. `writeCr2` is false only under the cr2-not-set bug.
 */
export function reflect(vm: ExitVm, f: EmuFault, during: EventInfo | null, writeCr2 = true): Handled {
  const g = vm.vmcs.guest;
  // DESIGN §3.10.2: CR2 is written when the #PF is detected, even if it escalates.
  if (f.vector === VEC_PF && f.cr2 !== undefined && writeCr2) g.cr2 = f.cr2 | 0;
  let vector = f.vector;
  let err = f.errorCode;
  if (during !== null) {
    const next = escalation(classOf(during.vector, during.kind), deliveryFaultClass(vector));
    if (next === 'shutdown') {
      attempt(g.chain, vector, KIND_EXC);
      return tripleFault(vm);
    }
    if (next === 'double-fault') {
      vector = VEC_DF;
      err = 0;
    }
  }
  vm.vmcs.injection.set(vector, 'exception', err, 0);
  return 'none';
}

/**
 * An event's delivery touched a page the hardware cannot reach natively (MMIO, open bus, a
 * traced table, a host too small): the VMM delivers it in software. The guest's eip is
 * still where the event left it (SDM 27.2.4), so a software interrupt's frame holds eip +
 * its length.
 */
export function deliverInSoftware(vm: ExitVm, e: EventInfo): Handled {
  const g = vm.vmcs.guest;
  const r = vm.emulator.deliver(g, vm.syncPaging(), e.vector, e.kind, e.errorCode, (g.eip + e.instructionLength) | 0, g.eip);
  if (r === 'shutdown') {
    vm.shutdown = true;
    return 'shutdown';
  }
  return 'delivered';
}
