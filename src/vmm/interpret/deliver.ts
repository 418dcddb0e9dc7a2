// Event delivery as the interpreting VMM performs it (DESIGN §3.7, §3.10.3–7): read the
// IDT gate from guest memory, check it, switch to ring 0 through the TSS, push the frame,
// enter the handler. A fault raised on the way is classified (benign / contributory /
// page fault / double fault) and either replaces the event, becomes #DF, or shuts the
// guest down — the one place ts-pattern's `.exhaustive()` reads best, and it runs only
// when delivery itself faults.

import { match, P } from 'ts-pattern';
import { ACC_READ, EFLAGS_IF, VEC_DF, VEC_GP, VEC_NP, VEC_PF } from '../../hw/arch.ts';
import { type ControlBlock, ESP, FAULT, csOf, fault, ssOf } from './control-block.ts';
import type { LinearAccess } from './linear-access.ts';

export type EventKind = 'exception' | 'interrupt' | 'software';

/** An event on its way to the guest. */
export interface GuestEvent {
  kind: EventKind;
  vector: number;
  /** -1 when none is pushed (§3.10.5). */
  errorCode: number;
  /** For #PF: the CR2 it reported; else -1. */
  cr2: number;
  /** The eip the handler's frame saves (§3.10.4). */
  returnEip: number;
}

type EventClass = 'benign' | 'contributory' | 'page-fault' | 'double-fault';
/** What delivery itself can raise: #GP/#NP from gate checks, #PF from its accesses. */
type DeliveryFaultClass = 'contributory' | 'page-fault';

/** §3.7 classes. */
function classOf(e: GuestEvent): EventClass {
  if (e.kind !== 'exception') return 'benign'; // `int n` and external interrupts
  return match(e.vector)
    .returnType<EventClass>()
    .with(VEC_DF, () => 'double-fault')
    .with(P.union(VEC_GP, VEC_NP), () => 'contributory')
    .with(VEC_PF, () => 'page-fault')
    .otherwise(() => 'benign'); // #UD
}

type Escalation = 'deliver-new' | 'double-fault' | 'shutdown';

/** §3.7: what a fault raised while delivering an event of class `first` turns into. */
function escalate(first: EventClass, second: DeliveryFaultClass): Escalation {
  return match([first, second] as const)
    .returnType<Escalation>()
    .with(['double-fault', P._], () => 'shutdown')
    .with(['benign', P._], () => 'deliver-new')
    .with(['contributory', 'contributory'], () => 'double-fault')
    .with(['contributory', 'page-fault'], () => 'deliver-new')
    .with(['page-fault', P._], () => 'double-fault')
    .exhaustive();
}

/** Exceptions the CPU raises with an error code (§3.10.5). */
export const hasErrorCode = (vector: number): boolean => vector === VEC_DF || vector === VEC_NP || vector === VEC_GP || vector === VEC_PF;

const GATE_INTERRUPT = 0x0e;
const GATE_TRAP = 0x0f;
const KERNEL_CS = 0x08;

export class Deliverer {
  deliveries = 0;
  private readonly gate = new Uint8Array(8);

  constructor(
    private readonly cb: ControlBlock,
    private readonly access: LinearAccess,
  ) {}

  /**
   * Deliver `first` and whatever its delivery raises, until a handler is entered —
   * `first`'s ('entered') or a fault's that replaced it ('replaced') — or the guest
   * triple-faults ('shutdown').
   */
  deliver(first: GuestEvent): 'entered' | 'replaced' | 'shutdown' {
    const cb = this.cb;
    // Nothing changes eip before a handler is entered, so cb.eip is the faulting
    // instruction, the `int n` itself, or the interrupted boundary: exactly §3.10.4.
    const faultEip = cb.eip;
    let event = first;
    const chain: number[] = [];
    for (;;) {
      chain.push(event.vector);
      if (this.enter(event) !== FAULT) {
        this.deliveries++;
        cb.trace.push({
          icount: cb.icount,
          kind: event.kind,
          vector: event.vector,
          errorCode: event.errorCode,
          cr2: event.cr2,
          eip: event.returnEip,
        });
        return event === first ? 'entered' : 'replaced';
      }
      const raised: GuestEvent = {
        kind: 'exception',
        vector: cb.faultVector,
        errorCode: cb.faultErrorCode,
        cr2: cb.faultCr2,
        returnEip: faultEip,
      };
      const secondClass: DeliveryFaultClass = raised.vector === VEC_PF ? 'page-fault' : 'contributory';
      switch (escalate(classOf(event), secondClass)) {
        case 'deliver-new':
          event = raised;
          break;
        case 'double-fault':
          event = { kind: 'exception', vector: VEC_DF, errorCode: 0, cr2: -1, returnEip: faultEip };
          break;
        case 'shutdown':
          cb.shutdown = true;
          chain.push(raised.vector);
          cb.trace.push({ icount: cb.icount, kind: 'shutdown', vector: -1, errorCode: -1, cr2: -1, eip: -1, chain });
          return 'shutdown';
      }
    }
  }

  /** One attempt: gate checks (§3.10.3), stack switch and pushes (§3.7). 0 or FAULT. */
  private enter(e: GuestEvent): number {
    const cb = this.cb;
    const access = this.access;
    const v = e.vector;
    const software = e.kind === 'software';
    const gateError = v * 8 + 2 + (software ? 0 : 1); // EXT = 1 unless a software int
    if (v * 8 + 7 > cb.idtrLimit) return fault(cb, VEC_GP, gateError);
    // The gate read is an implicit supervisor access (§3.5).
    const g = this.gate;
    if (access.readBytes((cb.idtrBase + v * 8) >>> 0, 8, ACC_READ, g) === FAULT) return FAULT;
    const type = g[5]! & 0x1f; // byte 4 is ignored
    if (type !== GATE_INTERRUPT && type !== GATE_TRAP) return fault(cb, VEC_GP, gateError);
    if (software && ((g[5]! >>> 5) & 3) < cb.cpl) return fault(cb, VEC_GP, v * 8 + 2);
    if ((g[5]! & 0x80) === 0) return fault(cb, VEC_NP, gateError);
    if ((g[2]! | (g[3]! << 8)) !== KERNEL_CS) return fault(cb, VEC_GP, gateError);
    const offset = (g[0]! | (g[1]! << 8) | (g[6]! << 16) | (g[7]! << 24)) >>> 0;

    // §3.7: from an outer ring, the ring-0 stack comes from the TSS (ESP0 at tr+4) and the
    // old SS:esp are pushed first. Pushes are supervisor writes, each in turn: a fault
    // midway leaves the earlier ones in memory and changes no register.
    let sp = cb.regs[ESP]!;
    if (cb.cpl > 0) {
      const esp0 = access.read32((cb.tr + 4) >>> 0, false);
      if (esp0 === FAULT) return FAULT;
      const oldEsp = sp;
      sp = esp0;
      if ((sp = this.push(sp, ssOf(cb.cpl))) === FAULT) return FAULT;
      if ((sp = this.push(sp, oldEsp)) === FAULT) return FAULT;
    }
    if ((sp = this.push(sp, cb.eflags)) === FAULT) return FAULT;
    if ((sp = this.push(sp, csOf(cb.cpl))) === FAULT) return FAULT;
    if ((sp = this.push(sp, e.returnEip)) === FAULT) return FAULT;
    if (e.errorCode >= 0 && (sp = this.push(sp, e.errorCode)) === FAULT) return FAULT;

    cb.regs[ESP] = sp;
    cb.cpl = 0;
    cb.eip = offset;
    if (type === GATE_INTERRUPT) cb.eflags &= ~EFLAGS_IF;
    cb.halted = false; // §3.7: a halted CPU wakes on delivery
    return 0;
  }

  /** The new stack pointer, or FAULT. */
  private push(sp: number, value: number): number {
    const next = (sp - 4) >>> 0;
    return this.access.write32(next, value, false) === FAULT ? FAULT : next;
  }
}
