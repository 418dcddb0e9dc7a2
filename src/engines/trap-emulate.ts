// The `trap-emulate` engine (DESIGN §5): classic deprivileging on legacy host hardware,
// no VT-x — guest kernel at ring 1, guest user at ring 3, every exception and `int n`
// trapping to the monitor of src/vmm/trap-emulate, privileged instructions emulated,
// shadow paging from src/vmm's shadow MMU. Expected NOT to be equivalent to `spec`:
// pushf, popf, sidt, str and `mov a, cs` are sensitive but unprivileged on VX32, as on
// x86 (Popek & Goldberg's Theorem 1 fails), and the suite refutes it with them.

import type { Engine, HostEvent, Image, MachineConfig, Observation, Status, StepOutcome } from '../../spec/observation.ts';
import type { Disposing } from './engine.ts';
import { isHwBug } from '../hw/bugs.ts';
import { LegacyMode, type HostTables } from '../hw/legacy.ts';
import { CR0_PE, CR0_PG, CR0_WP, EFLAGS_FIXED, EFLAGS_IF } from '../hw/arch.ts';
import { VmmBugs } from '../vmm/core/bugs.ts';
import { Host } from '../vmm/core/host.ts';
import { Vm } from '../vmm/shadow/vm.ts';
import { TrapEmulateMonitor } from '../vmm/trap-emulate/monitor.ts';
import { Schedule } from '../vmm/core/schedule.ts';
import { softwareVmmObservation } from './vm-observation.ts';
import { guestFrames } from './vmx-engine.ts';

/**
 * The monitor's own IDTR and TR, loaded into the real registers: what a deprivileged
 * guest's `sidt` and `str` reveal (a real VMM keeps its tables high in the address space).
 */
export const MONITOR_TABLES: HostTables = { idtrBase: 0xffc0_0000, idtrLimit: 0x7ff, tr: 0xffc0_1000 };

/** A monitor that spins on hidden faults without a guest step has a bug: stop it loudly. */
const MAX_SILENT_TRAPS = 64;

export interface TrapEmulateOptions {
  maxShadowPages?: number;
  maxRoots?: number;
}

export class TrapEmulateEngine implements Engine, Disposing {
  readonly name = 'trap-emulate';
  readonly host: Host;
  readonly vm: Vm;
  readonly monitor: TrapEmulateMonitor;
  readonly legacy: LegacyMode;
  private readonly ramCopy: Uint8Array;

  constructor(image: Image, config: MachineConfig, opts: TrapEmulateOptions = {}) {
    const bugs = config.bugs ?? [];
    const ramFrames = guestFrames(config);
    const maxPages = opts.maxShadowPages ?? 48;
    this.host = new Host({ guestFrames: ramFrames, poolFrames: maxPages + 4 }, bugs.filter(isHwBug));
    this.vm = new Vm(this.host, new VmmBugs(bugs), { ramBytes: config.ramBytes, shadow: { maxPages, maxRoots: opts.maxRoots ?? 4 } });
    for (const chunk of image.chunks) this.vm.p2m.load(chunk.addr >>> 0, chunk.bytes);
    const cpu = this.host.cpu;
    this.monitor = new TrapEmulateMonitor(cpu, this.vm);
    this.legacy = new LegacyMode(cpu, this.monitor);
    this.legacy.install(MONITOR_TABLES);
    // The host runs the guest on shadow tables with supervisor write protection; the
    // guest's own CR0/CR3/CR4 (reset values, DESIGN §3.1) live in the Vm.
    cpu.writeCr(0, CR0_PE | CR0_PG | CR0_WP, 0);
    this.monitor.loadRoot();
    cpu.setCpl(1); // guest ring 0, deprivileged
    cpu.eflags = EFLAGS_IF | EFLAGS_FIXED; // the real IF stays on; the guest's eflags reset to 0x2 (virtual)
    cpu.eip = image.entry | 0;
    this.ramCopy = new Uint8Array(config.ramBytes);
  }

  fire(event: HostEvent): void {
    if (event.kind === 'irq') {
      if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.vm.raise(event.vector);
      return;
    }
    this.vm.hostEvent(event);
    this.monitor.syncCr3();
  }

  /** One guest step: a handler entered, or an instruction retired (natively or emulated). */
  step(): StepOutcome {
    const cpu = this.host.cpu;
    const monitor = this.monitor;
    for (let silent = 0; ; silent++) {
      if (cpu.shutdown) return 'shutdown';
      if (monitor.interruptDeliverable()) return monitor.deliverExternal() === 'shutdown' ? 'shutdown' : 'delivered';
      if (cpu.halted) return 'halted';
      const icount = cpu.icount;
      const traced = cpu.trace.length;
      cpu.step();
      if (cpu.shutdown) return 'shutdown';
      if (cpu.icount !== icount || cpu.trace.length !== traced) return cpu.trace.length > traced ? 'delivered' : 'retired';
      if (silent >= MAX_SILENT_TRAPS) throw new Error(`popek: trap-emulate made no progress at eip 0x${(cpu.eip >>> 0).toString(16)}`);
    }
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const cpu = this.host.cpu;
    const monitor = this.monitor;
    const schedule = new Schedule(events);
    const fire = (e: HostEvent): void => this.fire(e);
    let steps = 0;
    for (;;) {
      schedule.fireDue(cpu.icount, fire);
      if (cpu.shutdown || steps >= maxSteps) break;
      if (!monitor.interruptDeliverable() && cpu.halted) {
        // DESIGN §3.10.9: time jumps to the next event; a halt with none left ends the run.
        if (schedule.done) break;
        schedule.fireNextGroup(fire);
        continue;
      }
      if (this.vm.pendingCount !== 0) {
        // An interrupt waits for the virtual IF, which only the monitor sees change: one step at a time.
        this.step();
        steps++;
        continue;
      }
      steps += this.burst(maxSteps - steps, schedule.nextAt);
    }
    return this.observe();
  }

  /** Run natively until a budget or the next event; count guest steps, not traps. */
  private burst(maxSteps: number, icountLimit: number): number {
    const cpu = this.host.cpu;
    const icount = cpu.icount;
    const traced = cpu.trace.length;
    cpu.runBurst(maxSteps, icountLimit);
    // DESIGN §3.10.8: a step retires an instruction or enters a handler; `int n` does both.
    let steps = cpu.icount - icount;
    for (let i = traced; i < cpu.trace.length; i++) {
      const k = cpu.trace[i]!.kind;
      if (k === 'exception' || k === 'interrupt') steps++;
    }
    return steps;
  }

  observe(): Observation {
    return softwareVmmObservation(this.vm, this.ramCopy, this.host.cpu, this.monitor.g, this.status());
  }

  /** Done with (engine.ts `Disposing`): the host TLB's arrays go to the next engine on this thread. */
  dispose(): void {
    this.host.cpu.release();
  }

  icount(): number {
    return this.host.cpu.icount;
  }

  status(): Status {
    const cpu = this.host.cpu;
    return cpu.shutdown ? 'shutdown' : cpu.halted ? 'halted' : 'running';
  }

  counters(): Record<string, number> {
    const cpu = this.host.cpu;
    const vm = this.vm;
    const m = this.monitor;
    const c: Record<string, number> = {
      instructions: cpu.icount,
      // Every trap is a world switch into the monitor: the legacy-mode "exit".
      exits: this.legacy.traps,
      hiddenFaults: m.hiddenFaults,
      trueFaults: m.trueFaults,
      emulated: m.emulated,
      reflected: m.reflected,
      tlbHits: cpu.tlbHits,
      tlbMisses: cpu.tlbMisses,
      walks: cpu.mmu.walks,
      walkRefs: cpu.mmu.walkRefs,
      gpteReads: vm.walker.gpteReads,
      mmioAccesses: vm.emulator.mmioAccesses,
      swapOuts: vm.p2m.swapOuts,
      swapIns: vm.p2m.swapIns,
      migrations: vm.p2m.migrations,
      ...Object.fromEntries(Object.entries(vm.shadow.stats).map(([k, v]) => [`shadow.${k}`, v])),
    };
    this.legacy.trapsByVector.forEach((n, v) => {
      if (n !== 0) c[`trap.${v}`] = n;
    });
    for (const [what, n] of Object.entries(m.emulatedBy)) c[`emulated.${what}`] = n;
    return c;
  }
}
