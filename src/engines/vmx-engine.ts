// What the two VMX-lite engines (vmx-shadow, vmx-ept) share: the guest runs in non-root
// mode under a VMCS, steps and runs go through the same entry path (src/vmm/core:
// vmx-entry.ts, vmx-steps.ts), an optional audit runs after every exit, and the
// observation reads the VMCS. They differ in how guest memory is paged (shadow tables vs
// EPT), so in their VM, vCPU hooks, host events, control-register views and counters.

import type { Disposing, Fingerprinting } from './engine.ts';
import type { Host } from '../vmm/core/host.ts';
import type { Engine, HostEvent, MachineConfig, Observation, Status, StepOutcome } from '../../spec/observation.ts';
import { PAGE_SIZE } from '../hw/arch.ts';
import { runVcpu, type Enterable, type VmxGuest } from '../vmm/core/vmx-steps.ts';
import { Schedule } from '../vmm/core/schedule.ts';
import { regsByName, vmObservation, type VmView } from './vm-observation.ts';

/** A VM of src/vmm as these engines drive it. */
export interface EngineVm extends VmxGuest, VmView {
  audit(): string[];
}

export interface EngineVcpu extends Enterable {
  readonly vm: EngineVm;
  step(): StepOutcome;
  blockedHalted(): boolean;
}

/** The guest's RAM in frames; a RangeError (→ `popek: ...`) for a size no VM can have. */
export function guestFrames(config: MachineConfig): number {
  const frames = config.ramBytes / PAGE_SIZE;
  if (!Number.isInteger(frames) || frames <= 0 || frames > 0x40000) {
    throw new RangeError(`popek: RAM size must be a positive multiple of 4096 up to 1 GiB, got ${config.ramBytes}`);
  }
  return frames;
}

/** The second VM of a host (DESIGN §6.12) runs up to `quantum` steps at a `switch-vm`. */
export function companionRunner(vcpu: EngineVcpu, quantum: number): () => void {
  const vm = vcpu.vm;
  return () => {
    for (let n = 0; n < quantum && !vm.shutdown && !vcpu.blockedHalted();) n += vcpu.enter(quantum - n).steps || 1;
  };
}

export abstract class VmxEngine implements Engine, Fingerprinting, Disposing {
  abstract readonly name: string;
  abstract readonly vm: EngineVm;
  abstract readonly vcpu: EngineVcpu;
  abstract readonly host: Host;
  private readonly ramCopy: Uint8Array;

  protected constructor(
    config: MachineConfig,
    /** Run the audit after every exit and host event, and throw on a violation (DESIGN §7). */
    private readonly auditEveryExit: boolean,
  ) {
    this.ramCopy = new Uint8Array(config.ramBytes);
  }

  abstract fire(event: HostEvent): void;
  abstract counters(): Record<string, number>;
  /** CR0, CR3 and CR4 as the guest reads them (DESIGN §6.7: its own values, not the host's). */
  protected abstract guestControl(): { cr0: number; cr3: number; cr4: number };

  step(): StepOutcome {
    const o = this.vcpu.step();
    this.checkAudit();
    return o;
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    runVcpu(
      this.vcpu,
      new Schedule(events),
      (e) => this.fire(e),
      maxSteps,
      () => this.checkAudit(),
    );
    return this.observe();
  }

  protected checkAudit(): void {
    if (!this.auditEveryExit) return;
    const v = this.vm.audit();
    if (v.length > 0) throw new Error(`popek: audit failed:\n${v.join('\n')}`);
  }

  observe(): Observation {
    const g = this.vm.vmcs.guest;
    const { cr0, cr3, cr4 } = this.guestControl();
    return vmObservation(this.vm, this.ramCopy, {
      status: this.status(),
      icount: g.icount,
      regs: regsByName(g.regs),
      eip: g.eip >>> 0,
      eflags: g.eflags >>> 0,
      cpl: g.cpl,
      cr0: cr0 >>> 0,
      cr2: g.cr2 >>> 0,
      cr3: cr3 >>> 0,
      cr4: cr4 >>> 0,
      idtr: { base: g.idtrBase >>> 0, limit: g.idtrLimit },
      tr: g.tr >>> 0,
      trace: g.trace.map((t) => ({ ...t })),
    });
  }

  /** The fast lockstep's per-step comparison (engine.ts `Fingerprinting`): what `observe` reports, without building it. */
  fingerprint(into: Int32Array): void {
    const g = this.vm.vmcs.guest;
    const { cr0, cr3, cr4 } = this.guestControl();
    into[0] = this.vm.shutdown ? 2 : g.halted ? 1 : 0;
    into[1] = g.icount;
    for (let i = 0; i < 8; i++) into[2 + i] = g.regs[i]!;
    into[10] = g.eip;
    into[11] = g.eflags;
    into[12] = g.cpl;
    into[13] = cr0;
    into[14] = g.cr2;
    into[15] = cr3;
    into[16] = cr4;
    into[17] = g.idtrBase;
    into[18] = g.idtrLimit;
    into[19] = g.tr;
    into[20] = this.vm.console.length;
    into[21] = this.vm.device.counter;
    into[22] = this.vm.device.log.length;
    into[23] = g.trace.length;
    let pending = 0;
    for (let v = 0; v < 256; v++) pending += this.vm.pending[v] !== 0 ? 1 : 0;
    into[24] = pending;
  }

  /** Done with (engine.ts `Disposing`): the host TLB's arrays go to the next engine on this thread. */
  dispose(): void {
    this.host.cpu.release();
  }

  icount(): number {
    return this.vm.vmcs.guest.icount;
  }

  status(): Status {
    return this.vm.shutdown ? 'shutdown' : this.vm.vmcs.guest.halted ? 'halted' : 'running';
  }

  /** `exit.REASON` per reason and their sum `exits`, added to an engine's counters. */
  protected withExits(c: Record<string, number>, exitsBy: Readonly<Record<string, number>>): Record<string, number> {
    let exits = 0;
    for (const [reason, n] of Object.entries(exitsBy)) {
      c[`exit.${reason}`] = n;
      exits += n;
    }
    c.exits = exits;
    return c;
  }
}
