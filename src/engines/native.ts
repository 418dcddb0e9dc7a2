// The `native` engine (DESIGN §5): the guest runs directly on the simulated host
// hardware, with no VMM — gpa = hpa, guest RAM is host RAM, guest IDT is the IDT.
// Expected to be equivalent to `spec`; its interest is speed and being an independent
// second reading of DESIGN §3 (it shares no code with spec/).

import type { Engine, HostEvent, Image, MachineConfig, Observation, Status, StepOutcome } from '../../spec/observation.ts';
import { Cpu, HwBugs, PhysMem } from '../hw/index.ts';
import { Schedule } from '../vmm/core/schedule.ts';

/** DESIGN §2 register order (copied from spec/observation.ts REG_NAMES, a value). */
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** Indexed by the step outcomes of popek/hw: S_RETIRED, S_DELIVERED, S_HALTED, S_SHUTDOWN. */
const OUTCOMES: readonly StepOutcome[] = ['retired', 'delivered', 'halted', 'shutdown'];

export class NativeEngine implements Engine {
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
