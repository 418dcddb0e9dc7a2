// Event delivery through the guest IDT (DESIGN §3.7, §3.10.3–5): gate checks, the ring
// switch through the task-state area, the frame pushes, and what happens when delivery
// itself faults (#DF, triple fault). One delivered event is one step; the trace gets an
// entry only for a handler actually entered. Runs once per event, not per instruction.
//
// In VMX non-root mode (cpu.vmx set) the same delivery goes through the GUEST IDT, with
// the exits of SDM vol. 3C ch. 25/27 woven in: an exception in the exception bitmap exits
// instead of being delivered; a fault or EPT exit while delivering exits with the event
// in IDT-vectoring information; a triple fault exits instead of shutting down.

import { match, P } from 'ts-pattern';
import type { TraceEntry } from '../../spec/observation.ts';
import { ACC_READ, ACC_WRITE, EFLAGS_IF, VEC_DF, VEC_GP, VEC_NP, VEC_PF } from './arch.ts';
import { attempt, chainVectors } from './chain.ts';
import { FV_EXIT, KIND_EXC, KIND_EXT, KIND_SW, type NonRoot, S_DELIVERED, S_SHUTDOWN, type TrapHandler } from './seams.ts';

/**
 * The CPU as delivery uses it (cpu.ts `Cpu` is one): its registers, the pending fault,
 * the seams, the general linear access and the fault helpers. Declared here so that
 * cpu.ts imports this file and not the other way round.
 */
export interface DeliveryCpu {
  readonly regs: Int32Array;
  eip: number;
  eflags: number;
  readonly cpl: number;
  cr2: number;
  idtrBase: number;
  idtrLimit: number;
  tr: number;
  halted: boolean;
  shutdown: boolean;
  icount: number;
  trace: TraceEntry[];
  /** chain.ts: the deliveries attempted since a handler was last entered. */
  chain: number[];
  fv: number;
  fe: number;
  readonly buf: Uint8Array;
  readonly buf32: Int32Array;
  readonly trap: TrapHandler | null;
  readonly vmx: NonRoot | null;
  access(gva: number, n: number, access: number): boolean;
  setCpl(c: number): void;
  gp(code: number): number;
  np(code: number): number;
}

type FaultClass = 'benign' | 'contributory' | 'page-fault' | 'double-fault';

/** DESIGN §3.7 classes. Only CPU exceptions have one; `int n` and irqs are benign. */
function classOf(vector: number, kind: number): FaultClass {
  if (kind !== KIND_EXC) return 'benign';
  switch (vector) {
    case VEC_NP:
    case VEC_GP:
      return 'contributory';
    case VEC_PF:
      return 'page-fault';
    case VEC_DF:
      return 'double-fault';
    default:
      return 'benign';
  }
}

/** What a fault raised while delivering an event of class `first` turns into. */
type Escalation = 'deliver-new' | 'double-fault' | 'shutdown';

function escalate(first: FaultClass, second: FaultClass): Escalation {
  // DESIGN §3.7: benign → the new fault; contributory+contributory → #DF; contributory
  // then #PF → #PF; #PF then contributory or #PF → #DF; anything during #DF → shutdown.
  return match<[FaultClass, FaultClass], Escalation>([first, second])
    .with(['double-fault', P._], () => 'shutdown')
    .with(['benign', P._], () => 'deliver-new')
    .with(['contributory', 'page-fault'], () => 'deliver-new')
    .with(['contributory', P._], () => 'double-fault')
    .with(['page-fault', P._], () => 'double-fault')
    .exhaustive();
}

/**
 * Deliver an event, escalating as DESIGN §3.7 says until a handler is entered or the
 * CPU shuts down. `savedEip` is the eip the event's frame holds; `faultEip` the one a
 * fault raised during its delivery saves (DESIGN §3.10.4: the `int`'s own eip, an
 * interrupt's return eip, an exception's faulting eip). `injected`: VMX event injection,
 * which never consults the exception bitmap (SDM vol. 3C 26.6.1). Returns a step
 * outcome (S_EXIT in non-root mode when an exit ended it).
 */
export function deliverEvent(
  cpu: DeliveryCpu,
  vector: number,
  kind: number,
  errorCode: number,
  savedEip: number,
  faultEip: number,
  injected = false,
): number {
  if (cpu.trap !== null) return cpu.trap.event(vector, kind, errorCode, savedEip, faultEip);
  const vmx = cpu.vmx;
  if (vmx !== null && !injected && kind === KIND_EXC && vmx.exceptionExits(vector)) {
    return vmx.exceptionExit(vector, errorCode);
  }
  let v = vector;
  let k = kind;
  let err = errorCode;
  let saved = savedEip;
  for (;;) {
    attempt(cpu.chain, v, k);
    if (enter(cpu, v, k, err, saved)) {
      cpu.chain.length = 0;
      cpu.trace.push(traceEntry(cpu, v, k, err, saved));
      // DESIGN §3.10.8: `int n` retires when its handler is entered.
      if (k === KIND_SW) cpu.icount++;
      cpu.halted = false;
      return S_DELIVERED;
    }
    const fv = cpu.fv;
    const fe = cpu.fe;
    cpu.fv = 0;
    cpu.fe = -1;
    if (vmx !== null) {
      // SDM vol. 3C 27.2.4: the interrupted event goes to IDT-vectoring information. The
      // bitmap is consulted for the new fault BEFORE the double-fault rules, so a VMM
      // that intercepts #PF (shadow paging) sees the hidden fault of a frame push and
      // re-injects; if the fault was the guest's own, the VMM applies DESIGN §3.7 itself.
      if (fv === FV_EXIT) return vmx.duringDelivery(v, k, err);
      if (vmx.exceptionExits(fv)) {
        vmx.exceptionExit(fv, fe);
        return vmx.duringDelivery(v, k, err);
      }
    }
    const next = escalate(classOf(v, k), classOf(fv, KIND_EXC));
    if (next === 'shutdown') {
      attempt(cpu.chain, fv, KIND_EXC);
      // SDM vol. 3C 25.2: a triple fault exits; the VMM's shutdown entry reads the chain.
      if (vmx !== null) return vmx.tripleFault();
      cpu.shutdown = true;
      cpu.trace.push({ icount: cpu.icount, kind: 'shutdown', chain: chainVectors(cpu.chain) });
      return S_SHUTDOWN;
    }
    if (next === 'double-fault') {
      if (vmx !== null && vmx.exceptionExits(VEC_DF)) {
        vmx.exceptionExit(VEC_DF, 0);
        return vmx.duringDelivery(v, k, err);
      }
      v = VEC_DF;
      err = 0;
    } else {
      v = fv;
      err = fe;
    }
    k = KIND_EXC;
    // DESIGN §3.10.4: the new fault (or the #DF) saves the eip the pair's first event
    // would have saved for a fault.
    saved = faultEip;
  }
}

/**
 * Try to enter the handler of one event. Every check and memory access comes before any
 * register changes; a fault leaves `fv`/`fe` set (and the pushes already written).
 */
function enter(cpu: DeliveryCpu, v: number, kind: number, err: number, saved: number): boolean {
  const ext = kind === KIND_SW ? 0 : 1;
  const gateErr = v * 8 + 2 + ext;
  // DESIGN §3.10.3, in order: limit, type, DPL (int n only), present, selector.
  if (v * 8 + 7 > cpu.idtrLimit) return fail(cpu.gp(gateErr));
  if (!cpu.access((cpu.idtrBase + v * 8) | 0, 8, ACC_READ)) return false;
  const g = cpu.buf;
  const attr = g[5]!;
  const type = attr & 0x1f;
  const offset = g[0]! | (g[1]! << 8) | (g[6]! << 16) | (g[7]! << 24);
  const selector = g[2]! | (g[3]! << 8);
  if (type !== 0x0e && type !== 0x0f) return fail(cpu.gp(gateErr));
  if (kind === KIND_SW && ((attr >>> 5) & 3) < cpu.cpl) return fail(cpu.gp(v * 8 + 2));
  if ((attr & 0x80) === 0) return fail(cpu.np(gateErr));
  if (selector !== 0x08) return fail(cpu.gp(gateErr));

  const oldCpl = cpu.cpl;
  const oldEsp = cpu.regs[4]!;
  let sp = oldEsp;
  if (oldCpl > 0) {
    // Ring switch: the new stack is ESP0 at tr+4 (DESIGN §3.1, §3.7).
    if (!cpu.access((cpu.tr + 4) | 0, 4, ACC_READ)) return false;
    sp = cpu.buf32[0]!;
    if (!push(cpu, (sp = (sp - 4) | 0), 0x10 + 0x11 * oldCpl)) return false;
    if (!push(cpu, (sp = (sp - 4) | 0), oldEsp)) return false;
  }
  if (!push(cpu, (sp = (sp - 4) | 0), cpu.eflags)) return false;
  if (!push(cpu, (sp = (sp - 4) | 0), 0x08 + 0x11 * oldCpl)) return false;
  if (!push(cpu, (sp = (sp - 4) | 0), saved)) return false;
  // DESIGN §3.10.5: only CPU-raised #DF, #NP, #GP, #PF carry an error code.
  if (err >= 0 && !push(cpu, (sp = (sp - 4) | 0), err)) return false;

  cpu.regs[4] = sp;
  cpu.setCpl(0);
  cpu.eip = offset;
  if (type === 0x0e) cpu.eflags &= ~EFLAGS_IF; // interrupt gate
  return true;
}

/** One frame push: a supervisor write at the new cpl 0 (DESIGN §3.5). */
function push(cpu: DeliveryCpu, sp: number, value: number): boolean {
  cpu.buf32[0] = value;
  return cpu.access(sp, 4, ACC_WRITE);
}

/** Swallows the R_FAULT of cpu.gp/np so a gate check reads as one line. */
function fail(_raised: number): boolean {
  return false;
}

function traceEntry(cpu: DeliveryCpu, v: number, kind: number, err: number, saved: number): TraceEntry {
  // DESIGN §3.10.14: icount at delivery (before an `int n` retires), eip as saved.
  const icount = cpu.icount;
  const eip = saved >>> 0;
  if (kind === KIND_EXT) return { icount, kind: 'interrupt', vector: v, eip };
  if (kind === KIND_SW) return { icount, kind: 'software', vector: v, eip };
  if (err < 0) return { icount, kind: 'exception', vector: v, eip };
  if (v === VEC_PF) return { icount, kind: 'exception', vector: v, errorCode: err, cr2: cpu.cr2 >>> 0, eip };
  return { icount, kind: 'exception', vector: v, errorCode: err, eip };
}
