// DESIGN §3.7 and §3.10.2–7 — event delivery: IDT gates, the ring switch through the
// TSS, error codes, and what happens when delivery itself faults (#DF, shutdown).

import { P, match } from 'ts-pattern';
import { readBytes, readData, writeData } from './access.ts';
import { DF, Fault, GP, NP, PF, gp, isFault, np } from './faults.ts';
import { supervisorAccess, type Hart } from './execute.ts';
import { ESP, IF, codeSelector, stackSelector } from './state.ts';
import type { TraceEntry } from './observation.ts';

/** An event on its way to a handler. */
export interface GuestEvent {
  kind: 'exception' | 'interrupt' | 'software';
  vector: number;
  errorCode?: number;
  cr2?: number;
  /** The eip pushed in the handler's frame. */
  returnEip: number;
  /**
   * The eip a fault raised while delivering this event saves (§3.10.4): the `int`
   * itself for software interrupts, otherwise the same as returnEip.
   */
  faultEip: number;
}

type EventClass = 'benign' | 'contributory' | 'page-fault' | 'double-fault';

/** §3.7: benign (#UD, `int`, external), contributory (#NP, #GP), page fault; #DF apart. */
const classOf = (ev: GuestEvent): EventClass =>
  match(ev)
    .with({ kind: P.union('software', 'interrupt') }, () => 'benign' as const)
    .with({ vector: DF }, () => 'double-fault' as const)
    .with({ vector: PF }, () => 'page-fault' as const)
    .with({ vector: P.union(GP, NP) }, () => 'contributory' as const)
    .otherwise(() => 'benign' as const); // #UD

/** Delivery can only fault with #GP, #NP or #PF. */
type DeliveryFaultClass = 'contributory' | 'page-fault';

/** §3.7: what a fault during delivery of an event of class `first` turns into. */
const escalate = (first: EventClass, second: DeliveryFaultClass) =>
  match([first, second] as const)
    .with(['double-fault', P._], () => 'shutdown' as const)
    .with(['benign', P._], () => 'deliver-second' as const)
    .with(['contributory', 'contributory'], () => 'double-fault' as const)
    .with(['contributory', 'page-fault'], () => 'deliver-second' as const)
    .with(['page-fault', P._], () => 'double-fault' as const)
    .exhaustive();

/** An exception raised by an instruction (or by delivery) at `eip`. */
export function exceptionEvent(f: Fault, eip: number): GuestEvent {
  return { kind: 'exception', vector: f.vector, errorCode: f.errorCode, cr2: f.cr2, returnEip: eip, faultEip: eip };
}

/** `entered`: the handler of the event itself; `escalated`: of a fault its delivery raised. */
export type DeliveryOutcome = 'entered' | 'escalated' | 'shutdown';

/**
 * Deliver `ev`, escalating faults raised on the way (§3.7), until a handler is entered or
 * the CPU shuts down. Only events whose handler is entered are traced.
 */
export function deliver(h: Hart, trace: TraceEntry[], first: GuestEvent): DeliveryOutcome {
  const s = h.s;
  let ev = first;
  const chain: number[] = [];
  for (;;) {
    chain.push(ev.vector);
    const f = enterHandler(h, ev);
    if (f === undefined) {
      trace.push(traceEntry(ev, s.icount));
      s.halted = false; // §3.7: a halted CPU wakes on delivery
      return ev === first ? 'entered' : 'escalated';
    }
    if (f.vector === PF) s.cr2 = f.cr2!; // §3.10.2: written when detected, even if it escalates
    const second = exceptionEvent(f, ev.faultEip); // §3.10.4
    const secondClass = f.vector === PF ? 'page-fault' : 'contributory';
    switch (escalate(classOf(ev), secondClass)) {
      case 'deliver-second':
        ev = second;
        break;
      case 'double-fault':
        // §3.10.4: #DF saves the eip the first event of the pair would have saved.
        ev = { kind: 'exception', vector: DF, errorCode: 0, returnEip: ev.returnEip, faultEip: ev.returnEip };
        break;
      case 'shutdown':
        s.shutdown = true;
        trace.push({ icount: s.icount, kind: 'shutdown', chain: [...chain, f.vector] });
        return 'shutdown';
    }
  }
}

function traceEntry(ev: GuestEvent, icount: number): TraceEntry {
  const e: TraceEntry = { icount, kind: ev.kind, vector: ev.vector, eip: ev.returnEip };
  if (ev.errorCode !== undefined) e.errorCode = ev.errorCode;
  if (ev.cr2 !== undefined) e.cr2 = ev.cr2;
  return e;
}

const GATE_INTERRUPT = 0x0e; // clears IF
const GATE_TRAP = 0x0f;
const KERNEL_CS = 0x08;

/**
 * Read and check the gate, switch stacks if coming from an outer ring, push the frame,
 * enter the handler (§3.7, checks in the order of §3.10.3). Returns the fault that
 * stopped it; memory written before that fault stays written, registers do not change.
 */
function enterHandler(h: Hart, ev: GuestEvent): Fault | undefined {
  const { s, mem } = h;
  const v = ev.vector;
  const ext = ev.kind === 'software' ? 0 : 1;
  const gateError = 8 * v + 2 + ext;
  const read = supervisorAccess('read');
  const write = supervisorAccess('write');

  if (8 * v + 7 > s.idtr.limit) return gp(gateError);
  const gate = new Uint8Array(8);
  const gf = readBytes(mem, s, (s.idtr.base + 8 * v) >>> 0, gate, read);
  if (gf) return gf;
  const attributes = gate[5]!;
  const type = attributes & 0x1f; // byte 4 is ignored (§3.10.3)
  if (type !== GATE_INTERRUPT && type !== GATE_TRAP) return gp(gateError);
  const dpl = (attributes >>> 5) & 3;
  if (ev.kind === 'software' && dpl < s.cpl) return gp(8 * v + 2);
  if (!(attributes & 0x80)) return np(gateError);
  const selector = gate[2]! | (gate[3]! << 8);
  if (selector !== KERNEL_CS) return gp(gateError);
  const offset = (gate[0]! | (gate[1]! << 8) | (gate[6]! << 16) | (gate[7]! << 24)) >>> 0;

  // The frame, in push order. From an outer ring, the stack switches to ESP0 at tr+4.
  const frame: number[] = [];
  let esp = s.regs[ESP]!;
  if (s.cpl > 0) {
    const esp0 = readData(mem, s, (s.tr + 4) >>> 0, 4, read);
    if (isFault(esp0)) return esp0;
    frame.push(stackSelector(s.cpl), esp);
    esp = esp0;
  }
  frame.push(s.eflags, codeSelector(s.cpl), ev.returnEip);
  if (ev.errorCode !== undefined) frame.push(ev.errorCode); // §3.10.5
  for (const word of frame) {
    esp = (esp - 4) >>> 0;
    const f = writeData(mem, s, esp, 4, word, write);
    if (f) return f;
  }

  s.regs[ESP] = esp;
  s.cpl = 0;
  s.eip = offset;
  if (type === GATE_INTERRUPT) s.eflags &= ~IF;
  return undefined;
}
