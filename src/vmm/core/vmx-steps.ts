// Step accounting shared by the VMX vCPUs (vmx-shadow's and vmx-ept's): how VM entries
// become the engine's steps (DESIGN §2: one step = an instruction retired or a handler
// entered) and how a run drives entries around the host-event schedule (DESIGN §3.8,
// §3.10.8–9). One entry is core/vmx-entry.ts; the vCPUs differ in how they page and
// handle exits, not in this.

import type { HostEvent, StepOutcome } from '../../../spec/observation.ts';
import type { Vmcs } from '../../hw/vmcs.ts';
import { EFLAGS_IF } from '../../hw/arch.ts';
import type { Schedule } from './schedule.ts';

/** What handling one exit did to the guest. */
export type Handled = 'none' | 'retired' | 'delivered' | 'shutdown';

export interface VmxGuest {
  readonly vmcs: Vmcs;
  readonly shutdown: boolean;
  readonly pendingCount: number;
}

/** A vCPU as steps and runs drive it (core/vmx-entry.ts `VmxVcpu` is one). */
export interface Enterable {
  readonly vm: VmxGuest;
  /** Enter the guest for at most `budget` steps and handle the exit. */
  enter(budget: number): { steps: number; handled: Handled };
}

/** Halted with nothing that can wake it now (an injection already set does). */
export function blockedHalted(vm: VmxGuest): boolean {
  const g = vm.vmcs.guest;
  if (!g.halted || vm.shutdown || vm.vmcs.injection.valid) return false;
  return vm.pendingCount === 0 || (g.eflags & EFLAGS_IF) === 0;
}

/** One step for lockstep: entries of budget 1 until the guest retires or enters a handler. */
export function stepVcpu(vcpu: Enterable): StepOutcome {
  const vm = vcpu.vm;
  const g = vm.vmcs.guest;
  for (;;) {
    if (vm.shutdown) return 'shutdown';
    if (blockedHalted(vm)) return 'halted';
    const traceBefore = g.trace.length;
    const { steps, handled } = vcpu.enter(1);
    if (handled === 'shutdown') return 'shutdown';
    if (steps > 0) {
      const last = g.trace[g.trace.length - 1];
      return g.trace.length > traceBefore && last !== undefined && last.kind !== 'shutdown' ? 'delivered' : 'retired';
    }
  }
}

/**
 * A run: fire what is due, enter with a budget that stops at the next event, and while
 * the guest is halted with nothing to wake it let time jump to the next event (§3.10.9).
 */
export function runVcpu(vcpu: Enterable, schedule: Schedule, fire: (e: HostEvent) => void, maxSteps: number, afterEntry: () => void): void {
  const vm = vcpu.vm;
  const g = vm.vmcs.guest;
  let steps = 0;
  for (;;) {
    schedule.fireDue(g.icount, fire);
    if (vm.shutdown || steps >= maxSteps) break;
    if (blockedHalted(vm)) {
      if (schedule.done) break;
      schedule.fireNextGroup(fire);
      continue;
    }
    const budget = Math.max(1, Math.min(maxSteps - steps, schedule.nextAt - g.icount));
    steps += vcpu.enter(budget).steps;
    afterEntry();
  }
}
