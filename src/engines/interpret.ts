// The `interpret` engine (DESIGN §5): SIE-style interpretive execution. A VMM decodes and
// executes every guest instruction in software over guest memory it owns, with its own
// decoder, page walker and event delivery (src/vmm/interpret). Expected to be equivalent
// to `spec`, and slow: its interest is being a third independent reading of DESIGN §3,
// and the cost of interpretation as a number (DESIGN §9).

import type { Engine, HostEvent, Image, MachineConfig, Observation, Status, StepOutcome, TraceEntry } from '../../spec/observation.ts';
import { interpretBugs } from '../vmm/interpret/bugs.ts';
import type { DeliveredEvent } from '../vmm/interpret/control-block.ts';
import { Interpreter } from '../vmm/interpret/interpreter.ts';
import { Schedule } from '../vmm/core/schedule.ts';

/** DESIGN §2 register order (copied from spec/observation.ts REG_NAMES, a value). */
const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

export class InterpretEngine implements Engine {
  readonly name = 'interpret';
  readonly vm: Interpreter;

  constructor(image: Image, config: MachineConfig) {
    this.vm = new Interpreter(image.entry, config.ramBytes, interpretBugs(config.bugs));
    for (const chunk of image.chunks) this.vm.mem.load(chunk.addr >>> 0, chunk.bytes);
  }

  fire(event: HostEvent): void {
    switch (event.kind) {
      case 'irq':
        if (Number.isInteger(event.vector) && event.vector >= 0 && event.vector <= 255) this.vm.cb.raise(event.vector);
        return;
      case 'swap-out':
      case 'migrate':
      case 'evict-shadow':
      case 'flush-tlb':
      case 'reclaim':
      case 'switch-vm':
        // Host-only (DESIGN §3.8). The interpreter keeps guest RAM in one array it owns
        // and caches no translation or shadow: there is nothing for these to act on.
        return;
    }
  }

  step(): StepOutcome {
    return this.vm.step();
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const vm = this.vm;
    const cb = vm.cb;
    const schedule = new Schedule(events);
    const fire = (e: HostEvent): void => this.fire(e);
    let steps = 0;
    for (;;) {
      schedule.fireDue(cb.icount, fire);
      if (cb.shutdown || steps >= maxSteps) break;
      if (cb.halted && !vm.interruptDeliverable()) {
        // DESIGN §3.10.9: time jumps to the next event; a halt with none left ends the run.
        if (schedule.done) break;
        schedule.fireNextGroup(fire);
        continue;
      }
      vm.step();
      steps++;
    }
    return this.observe();
  }

  observe(): Observation {
    const { cb, mem, ports } = this.vm;
    const regs = {} as Record<(typeof REG_NAMES)[number], number>;
    REG_NAMES.forEach((name, i) => (regs[name] = cb.regs[i]!));
    const pending: number[] = [];
    for (let v = 0; v < 256; v++) if (cb.pending[v] !== 0) pending.push(v);
    return {
      status: this.status(),
      icount: cb.icount,
      regs,
      eip: cb.eip >>> 0,
      eflags: cb.eflags >>> 0,
      cpl: cb.cpl,
      cr0: cb.cr0 >>> 0,
      cr2: cb.cr2 >>> 0,
      cr3: cb.cr3 >>> 0,
      cr4: cb.cr4 >>> 0,
      idtr: { base: cb.idtrBase >>> 0, limit: cb.idtrLimit },
      tr: cb.tr >>> 0,
      ram: mem.ram,
      console: ports.console,
      device: { counter: mem.deviceCounter, log: [...mem.deviceLog] },
      trace: cb.trace.map(traceEntry),
      pending,
    };
  }

  icount(): number {
    return this.vm.cb.icount;
  }

  status(): Status {
    const cb = this.vm.cb;
    return cb.shutdown ? 'shutdown' : cb.halted ? 'halted' : 'running';
  }

  /**
   * Not guest-visible. Named as src/cli/cost-model.ts (DESIGN §9) costs them:
   * `interpreted` is every instruction the VMM fetched and decoded (retired or faulting),
   * `walkRefs` every guest page-structure reference of its software walker; there is no
   * TLB, so `pageWalks` is one per page touched by each access when paging is on.
   */
  counters(): Record<string, number> {
    const vm = this.vm;
    return {
      instructions: vm.cb.icount,
      interpreted: vm.decodes,
      pageWalks: vm.walker.walks,
      walkRefs: vm.walker.walkRefs,
      memRefs: vm.access.memRefs,
      deliveries: vm.deliveries,
      exits: 0,
    };
  }
}

function traceEntry(e: DeliveredEvent): TraceEntry {
  if (e.kind === 'shutdown')
    return e.chain ? { icount: e.icount, kind: 'shutdown', chain: e.chain } : { icount: e.icount, kind: 'shutdown' };
  const t: TraceEntry = { icount: e.icount, kind: e.kind, vector: e.vector, eip: e.eip >>> 0 };
  if (e.errorCode >= 0) t.errorCode = e.errorCode >>> 0;
  if (e.cr2 >= 0) t.cr2 = e.cr2 >>> 0;
  return t;
}
