// DESIGN §3.7–3.8 and §3.10.7–9 — the machine: one step at a time, and the host-event
// schedule around the steps. The spec implements the Engine interface so that the CLI
// and the properties can treat it like any other engine.

import { deliver, exceptionEvent, type GuestEvent } from './events.ts';
import { execute, programAccess, SoftwareInterrupt, type Hart } from './execute.ts';
import { readBytes } from './access.ts';
import { Fault, PF, isFault, ud } from './faults.ts';
import { translate } from './paging.ts';
import { decode, INSN_BYTES } from './isa.ts';
import { PhysMem } from './phys.ts';
import { IF, resetState, type CpuState } from './state.ts';
import {
  REG_NAMES,
  type Engine,
  type HostEvent,
  type Image,
  type MachineConfig,
  type Observation,
  type Status,
  type StepOutcome,
  type TraceEntry,
} from './observation.ts';

export class SpecMachine implements Engine {
  readonly name = 'spec';
  readonly s: CpuState;
  readonly mem: PhysMem;
  readonly console: number[] = [];
  readonly trace: TraceEntry[] = [];
  private readonly hart: Hart;
  private readonly fetchBuf = new Uint8Array(INSN_BYTES);
  private steps = 0;

  constructor(image: Image, config: MachineConfig) {
    if (config.ramBytes <= 0 || config.ramBytes % 4096 !== 0) {
      throw new RangeError(`RAM size must be a positive multiple of 4096, not ${config.ramBytes}`);
    }
    this.mem = new PhysMem(config.ramBytes);
    loadImage(this.mem, image);
    this.s = resetState(image);
    this.hart = { s: this.s, mem: this.mem, console: this.console };
  }

  /** §3.8: `irq` raises a vector; host-only events have no guest-visible effect, so none here. */
  fire(event: HostEvent): void {
    if (event.kind !== 'irq') return;
    const p = this.s.pending;
    if (!p.includes(event.vector)) {
      p.push(event.vector);
      p.sort((x, y) => x - y);
    }
  }

  step(): StepOutcome {
    const s = this.s;
    if (s.shutdown) return 'shutdown';
    // §3.7: at a boundary, with IF = 1 and no STI shadow, the lowest pending vector is
    // delivered; it leaves `pending` as delivery begins (§3.10.7).
    if (s.eflags & IF && !s.stiShadow && s.pending.length > 0) {
      const vector = s.pending.shift()!;
      return this.deliver({ kind: 'interrupt', vector, returnEip: s.eip, faultEip: s.eip });
    }
    s.stiShadow = false; // the shadow covers one boundary only (§3.10.6)
    if (s.halted) return 'halted';

    // Exceptions within one instruction, first wins: fetch #PF, decode #UD, then the
    // instruction's own checks (§3.4).
    const eip = s.eip;
    const ff = readBytes(this.mem, s, eip, this.fetchBuf, programAccess(s, 'fetch'));
    if (ff) return this.raise(ff, eip);
    const insn = decode(this.fetchBuf);
    if (insn === null) return this.raise(ud(), eip);
    const result = execute(this.hart, insn);
    if (result === undefined) {
      s.icount++;
      return 'retired';
    }
    if (result instanceof SoftwareInterrupt) {
      const next = (eip + INSN_BYTES) >>> 0;
      const out = deliver(this.hart, this.trace, { kind: 'software', vector: result.vector, returnEip: next, faultEip: eip });
      // §3.10.8: `int n` retires when its own handler is entered, not if its delivery faulted.
      if (out === 'entered') s.icount++;
      return out === 'shutdown' ? 'shutdown' : 'delivered';
    }
    return this.raise(result, eip);
  }

  private raise(f: Fault, eip: number): StepOutcome {
    if (f.vector === PF) this.s.cr2 = f.cr2!; // §3.10.2
    return this.deliver(exceptionEvent(f, eip));
  }

  private deliver(ev: GuestEvent): StepOutcome {
    return deliver(this.hart, this.trace, ev) === 'shutdown' ? 'shutdown' : 'delivered';
  }

  /**
   * The schedule (§3.8, §3.10.8–9): an event with `at: k` fires at the first boundary
   * where icount ≥ k, equal `at` in file order; while halted, time jumps to the next
   * event time and fires every event due then. `maxSteps` bounds the steps taken (retired
   * instructions and entered handlers), so a guest that faults forever still ends.
   */
  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const queue = sortSchedule(events);
    let next = 0;
    while (this.steps < maxSteps) {
      while (next < queue.length && queue[next]!.at <= this.s.icount) this.fire(queue[next++]!);
      const out = this.step();
      if (out === 'shutdown') break;
      if (out === 'halted') {
        if (next >= queue.length) break;
        const t = queue[next]!.at;
        while (next < queue.length && queue[next]!.at === t) this.fire(queue[next++]!);
        continue;
      }
      this.steps++;
    }
    return this.observe();
  }

  icount(): number {
    return this.s.icount;
  }

  status(): Status {
    return this.s.shutdown ? 'shutdown' : this.s.halted ? 'halted' : 'running';
  }

  observe(): Observation {
    const s = this.s;
    return {
      status: this.status(),
      icount: s.icount,
      regs: Object.fromEntries(REG_NAMES.map((n, i) => [n, s.regs[i]!])) as Observation['regs'],
      eip: s.eip,
      eflags: s.eflags,
      cpl: s.cpl,
      cr0: s.cr0,
      cr2: s.cr2,
      cr3: s.cr3,
      cr4: s.cr4,
      idtr: { ...s.idtr },
      tr: s.tr,
      ram: this.mem.ram,
      console: String.fromCharCode(...this.console),
      device: { counter: this.mem.device.counter, log: [...this.mem.device.log] },
      trace: this.trace.map((e) => ({ ...e })),
      pending: [...s.pending],
    };
  }

  /**
   * The 8 bytes at eip as the next fetch would see them, without setting A/D bits or
   * touching the device (for disassembly in reports), or undefined if the fetch would fault.
   */
  peekInsn(): Uint8Array | undefined {
    const s = this.s;
    const out = new Uint8Array(INSN_BYTES);
    for (let i = 0; i < INSN_BYTES; i++) {
      const pa = translate(this.mem, s, (s.eip + i) >>> 0, programAccess(s, 'fetch'), false);
      if (isFault(pa)) return undefined;
      out[i] = this.mem.readByte(pa);
    }
    return out;
  }

  counters(): Record<string, number> {
    return { instructions: this.s.icount, steps: this.steps, events: this.trace.length };
  }
}

/** Stable sort by `at`: equal times keep file order (§3.10.8). */
export function sortSchedule(events: readonly HostEvent[]): HostEvent[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((x, y) => x.e.at - y.e.at || x.i - y.i)
    .map(({ e }) => e);
}

/** §3.10.13: RAM is zero except the image; bytes outside RAM cannot be loaded. */
function loadImage(mem: PhysMem, image: Image): void {
  for (const { addr, bytes } of image.chunks) {
    if (addr + bytes.length > mem.ram.length) {
      throw new RangeError(
        `image bytes at 0x${addr.toString(16)}..0x${(addr + bytes.length).toString(16)} lie outside RAM (${mem.ram.length} bytes)`,
      );
    }
    mem.ram.set(bytes, addr);
  }
}

export function runSpec(image: Image, config: MachineConfig, events: readonly HostEvent[], maxSteps: number): Observation {
  return new SpecMachine(image, config).run(events, maxSteps);
}
