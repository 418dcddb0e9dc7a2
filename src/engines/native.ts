// The `native` engine (DESIGN §5): the guest runs directly on the simulated host
// hardware, with no VMM — gpa = hpa, guest RAM is host RAM, guest IDT is the IDT.
// Expected to be equivalent to `spec`; its interest is speed and being an independent
// second reading of DESIGN §3 (it shares no code with spec/).

import type { Disposing, Fingerprinting } from './engine.ts';
import type { Engine, HostEvent, Image, MachineConfig, Observation, Status, StepOutcome } from '../../spec/observation.ts';
import { Cpu, HwBugs, PhysMem } from '../hw/index.ts';
import { Schedule } from '../vmm/core/schedule.ts';

/** DESIGN §2 register order (copied from spec/observation.ts REG_NAMES, a value). */
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** Indexed by the step outcomes of popek/hw: S_RETIRED, S_DELIVERED, S_HALTED, S_SHUTDOWN. */
const OUTCOMES: readonly StepOutcome[] = ['retired', 'delivered', 'halted', 'shutdown'];

export class NativeEngine implements Engine, Fingerprinting, Disposing {
  readonly name = 'native';
  readonly cpu: Cpu;
  readonly mem: PhysMem;

  constructor(image: Image, config: MachineConfig) {
    // No VMM: host RAM is exactly the guest's RAM.
    this.mem = new PhysMem(config.ramBytes);
    for (const chunk of image.chunks) this.mem.load(chunk.addr >>> 0, chunk.bytes);
    this.cpu = new Cpu(this.mem, new HwBugs(config.bugs));
    this.cpu.eip = image.entry | 0; // DESIGN §3.1 reset; everything else starts at reset values
  }

  fire(event: HostEvent): void {
    switch (event.kind) {
      case 'irq':
        if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.cpu.raise(event.vector);
        return;
      case 'flush-tlb':
        // Host-only, and a real flush: with a coherent TLB it must change nothing visible.
        this.cpu.tlb.flush();
        return;
      case 'swap-out':
      case 'migrate':
      case 'evict-shadow':
      case 'reclaim':
      case 'switch-vm':
        // Host-only (DESIGN §3.8). Without a VMM there is no p2m, swap or shadow state
        // to act on: guest frames are host frames, so these are no-ops by construction.
        return;
    }
  }

  step(): StepOutcome {
    return OUTCOMES[this.cpu.step()]!;
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const cpu = this.cpu;
    const schedule = new Schedule(events);
    const fire = (e: HostEvent): void => this.fire(e);
    let steps = 0;
    for (;;) {
      schedule.fireDue(cpu.icount, fire);
      if (cpu.shutdown || steps >= maxSteps) break;
      if (cpu.halted && !cpu.interruptDeliverable()) {
        // DESIGN §3.10.9: time jumps to the next event; a halt with none left ends the run.
        if (schedule.done) break;
        schedule.fireNextGroup(fire);
        continue;
      }
      steps += cpu.runBurst(maxSteps - steps, schedule.nextAt);
    }
    return this.observe();
  }

  observe(): Observation {
    const cpu = this.cpu;
    const regs = {} as Record<(typeof REG_NAMES)[number], number>;
    REG_NAMES.forEach((name, i) => (regs[name] = cpu.regs[i]! >>> 0));
    const pending: number[] = [];
    for (let v = 0; v < 256; v++) if (cpu.pending[v] !== 0) pending.push(v);
    let console = '';
    for (let i = 0; i < cpu.console.length; i += 4096) {
      console += String.fromCharCode(...cpu.console.slice(i, i + 4096));
    }
    return {
      status: this.status(),
      icount: cpu.icount,
      regs,
      eip: cpu.eip >>> 0,
      eflags: cpu.eflags >>> 0,
      cpl: cpu.cpl,
      cr0: cpu.cr0 >>> 0,
      cr2: cpu.cr2 >>> 0,
      cr3: cpu.cr3 >>> 0,
      cr4: cpu.cr4 >>> 0,
      idtr: { base: cpu.idtrBase >>> 0, limit: cpu.idtrLimit },
      tr: cpu.tr >>> 0,
      ram: this.mem.ram,
      console,
      device: { counter: this.mem.device.counter, log: [...this.mem.device.log] },
      trace: cpu.trace.map((t) => ({ ...t })),
      pending,
    };
  }

  /** The fast lockstep's per-step comparison (engine.ts `Fingerprinting`): what `observe` reports, without building it. */
  fingerprint(into: Int32Array): void {
    const cpu = this.cpu;
    into[0] = cpu.shutdown ? 2 : cpu.halted ? 1 : 0;
    into[1] = cpu.icount;
    for (let i = 0; i < 8; i++) into[2 + i] = cpu.regs[i]!;
    into[10] = cpu.eip;
    into[11] = cpu.eflags;
    into[12] = cpu.cpl;
    into[13] = cpu.cr0;
    into[14] = cpu.cr2;
    into[15] = cpu.cr3;
    into[16] = cpu.cr4;
    into[17] = cpu.idtrBase;
    into[18] = cpu.idtrLimit;
    into[19] = cpu.tr;
    into[20] = cpu.console.length;
    into[21] = this.mem.device.counter;
    into[22] = this.mem.device.log.length;
    into[23] = cpu.trace.length;
    into[24] = cpu.pendingCount;
  }

  /** Done with (engine.ts `Disposing`): the TLB's arrays go to the next engine on this thread. */
  dispose(): void {
    this.cpu.release();
  }

  icount(): number {
    return this.cpu.icount;
  }

  status(): Status {
    return this.cpu.shutdown ? 'shutdown' : this.cpu.halted ? 'halted' : 'running';
  }

  counters(): Record<string, number> {
    const cpu = this.cpu;
    return {
      instructions: cpu.icount,
      tlbHits: cpu.tlbHits,
      tlbMisses: cpu.tlbMisses,
      walks: cpu.mmu.walks,
      walkRefs: cpu.mmu.walkRefs,
      tlbFills: cpu.tlb.fills,
      tlbFlushes: cpu.tlb.flushes,
      tlbInvalidations: cpu.tlb.invalidations,
      tableStoreFlushes: cpu.tableStoreFlushes,
      exits: 0,
    };
  }
}
