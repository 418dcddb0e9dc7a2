// The VMM's instruction emulator (DESIGN §6.5, §6.9; KVM's emulate.c in miniature): when
// an access cannot run natively — its gpa is MMIO or open bus (never mapped), or it is a
// store to a traced guest table — the VMM performs the whole instruction in software,
// through the one guest walker (A/D exactly as DESIGN §3.5), the p2m, the VM's device,
// and memory tracing (every emulated store to a traced gfn zaps the sptes derived from
// it). Each emulated access happens exactly once.
//
// Only instructions with memory operands, stack accesses or a fetch can need it; the
// exit that brings the VMM here is a #PF on one of their accesses. Anything else
// returns 'unsupported' (the caller reports it: DESIGN §6.14 — it never happens for an
// access-driven exit). Faults are values (STYLE §3): an emulated instruction that
// faults leaves the guest state untouched and returns the event for the VMM to inject.

import { FIELDS, IMM_MAX, badNobase } from '../../hw/decode.ts';
import type { MmioDevice } from '../../hw/device.ts';
import { MMIO_BASE, MMIO_END } from '../../hw/device.ts';
import type { P2m } from './p2m.ts';
import type { GuestPaging, GuestWalker } from './walker.ts';
import type { VmmBugs } from './bugs.ts';
import { attempt, chainVectors } from '../../hw/chain.ts';
import { KIND_EXC, KIND_EXT, KIND_SW } from '../../hw/seams.ts';
import {
  ACC_FETCH,
  ACC_READ,
  ACC_USER,
  ACC_WRITE,
  EFLAGS_FIXED,
  EFLAGS_IF,
  EFLAGS_IOPL,
  EFLAGS_IOPL_SHIFT,
  EFLAGS_STATUS,
  VEC_DF,
  VEC_GP,
  VEC_NP,
  VEC_PF,
  VEC_UD,
} from '../../hw/arch.ts';
import type { TraceEntry } from '../../../spec/observation.ts';
import { match, P } from 'ts-pattern';

/**
 * Who hears of every store the emulator performs, one call per page: the shadow MMU's
 * memory tracing (DESIGN §6.5), or a nested-paging VM's zero-frame and TLB bookkeeping.
 */
export interface StoreTracer {
  tracedWrite(gpa: number, len: number): void;
}

/** The guest registers the emulator reads and writes (the VMCS guest-state area's shape). */
export interface EmuGuest {
  readonly regs: Int32Array;
  eip: number;
  eflags: number;
  cpl: number;
  cr2: number;
  idtrBase: number;
  idtrLimit: number;
  tr: number;
  halted: boolean;
  icount: number;
  readonly trace: TraceEntry[];
  /** hw/chain.ts: deliveries attempted since a handler was entered (a shutdown reports it). */
  readonly chain: number[];
}

export type EventKind = 'exception' | 'external' | 'software';
const KIND_OF: Readonly<Record<EventKind, number>> = { exception: KIND_EXC, external: KIND_EXT, software: KIND_SW };

/** An exception the emulated instruction raised (for injection by the VMM). */
export interface EmuFault {
  vector: number;
  errorCode: number | null;
  /** For #PF: the linear address for CR2. */
  cr2?: number;
}

export type EmuResult = 'retired' | 'unsupported' | EmuFault;

const NOBASE_BIT = 0x8 << 16;

/** A memory operand's gva (DESIGN §3.3): base register b plus imm, or imm alone with NOBASE. */
export function operandGva(w0: number, imm: number, regs: Int32Array): number {
  return ((w0 & NOBASE_BIT) !== 0 ? 0 : regs[(w0 >>> 16) & 7]!) + imm;
}

export class Emulator {
  /** Bytes of the current access (≤ 8). */
  private readonly buf = new Uint8Array(8);
  private readonly view = new DataView(this.buf.buffer);
  private fault: EmuFault | null = null;
  /** The instruction's bytes as the hardware fetched them, when `prefetch` could read them. */
  private readonly pre = new Uint8Array(8);
  /** The eip `pre` holds the bytes of, or null: not −1, which is eip 0xFFFFFFFF as an int32. */
  private preEip: number | null = null;

  /** Counters (not guest-visible). */
  emulated = 0;
  mmioAccesses = 0;

  constructor(
    private readonly p2m: P2m,
    private readonly walker: GuestWalker,
    private readonly shadow: StoreTracer,
    private readonly device: MmioDevice,
    private readonly bugs: VmmBugs,
  ) {}

  /**
   * Keep the bytes of the instruction at `eip` as the hardware fetched them, read through
   * the shadow (`probe`: no side effect) before the VMM's walk of the faulting access
   * sets A/D bits — which may land in those very bytes when a code page doubles as a
   * page table. DESIGN §3.4: the fetch comes before the operand's translation. When the
   * fetch itself is what faulted, there is nothing to keep and `step` fetches.
   */
  prefetch(probe: (gva: number, access: number) => number, ram: Uint8Array, eip: number, user: boolean): void {
    this.preEip = null;
    const first = 0x1000 - (eip & 0xfff);
    const access = ACC_FETCH | (user ? ACC_USER : 0);
    const hpa0 = probe(eip, access);
    if (hpa0 < 0) return;
    const hpa1 = first < 8 ? probe((eip + first) | 0, access) : 0;
    if (hpa1 < 0) return;
    for (let i = 0; i < 8; i++) this.pre[i] = ram[i < first ? hpa0 + i : hpa1 + (i - first)]!;
    this.preEip = eip;
  }

  /** Emulate the instruction at the guest's eip (DESIGN §3.3–3.4). */
  step(g: EmuGuest, paging: GuestPaging): EmuResult {
    this.fault = null;
    this.emulated++;
    // DESIGN §3.5: the access is the user's at cpl 3 (a fetch, a read or a write of it).
    const user = g.cpl === 3 ? ACC_USER : 0;
    if (this.preEip === g.eip) this.buf.set(this.pre);
    else if (!this.access(paging, g.eip, 8, ACC_FETCH | user)) return this.fault!;
    this.preEip = null;
    const w0 = this.view.getInt32(0, true);
    const imm = this.view.getInt32(4, true);
    const op = w0 & 0xff;
    if ((w0 & ~FIELDS[op]!) !== 0 || badNobase(w0)) return { vector: VEC_UD, errorCode: null };
    const immMax = IMM_MAX[op]!;
    if (immMax !== -1 && imm >>> 0 > immMax) return { vector: VEC_UD, errorCode: null };
    const a = (w0 >>> 8) & 7;
    const regs = g.regs;
    const m = operandGva(w0, imm, regs);
    let next = (g.eip + 8) | 0;
    const esp = regs[4]!;
    switch (op) {
      case 0x12:
        if (!this.access(paging, m, 4, user)) return this.fault!;
        regs[a] = this.view.getInt32(0, true);
        break;
      case 0x13:
        this.view.setInt32(0, regs[a]!, true);
        if (!this.access(paging, m, 4, ACC_WRITE | user)) return this.fault!;
        break;
      case 0x14:
        if (!this.access(paging, m, 1, user)) return this.fault!;
        regs[a] = this.buf[0]!;
        break;
      case 0x15:
        if (this.bugs.emulatedByteStoreAsWord) this.view.setInt32(0, regs[a]!, true);
        else this.buf[0] = regs[a]!;
        if (!this.access(paging, m, this.bugs.emulatedByteStoreAsWord ? 4 : 1, ACC_WRITE | user)) return this.fault!;
        break;
      case 0x42: // call imm
      case 0x43: // call a (target read before the push)
      case 0x45: // push a
      case 0x46: // push imm
      case 0x60: {
        // pushf
        const v = op === 0x42 || op === 0x43 ? next : op === 0x45 ? regs[a]! : op === 0x46 ? imm : g.eflags;
        const target = op === 0x42 ? imm : regs[a]!;
        this.view.setInt32(0, v, true);
        if (!this.access(paging, (esp - 4) | 0, 4, ACC_WRITE | user)) return this.fault!;
        regs[4] = (esp - 4) | 0;
        if (op === 0x42 || op === 0x43) next = target;
        break;
      }
      case 0x44: // ret
      case 0x47: // pop a
      case 0x61: {
        // popf
        if (!this.access(paging, esp, 4, user)) return this.fault!;
        const v = this.view.getInt32(0, true);
        regs[4] = (esp + 4) | 0;
        if (op === 0x44) next = v;
        else if (op === 0x47) regs[a] = v;
        else g.eflags = popfValue(g.eflags, g.cpl, v);
        break;
      }
      case 0x65: {
        // iret (DESIGN §3.4, §3.10.11): every pop before any state change.
        const w = new Int32Array(5);
        for (let k = 0; k < 3; k++) {
          if (!this.access(paging, (esp + 4 * k) | 0, 4, user)) return this.fault!;
          w[k] = this.view.getInt32(0, true);
        }
        const cs = w[1]! & 0xffff;
        const r = cs & 3;
        if (r < g.cpl || cs !== 0x08 + 0x11 * r) return { vector: VEC_GP, errorCode: cs & 0xfffc };
        let nEsp = (esp + 12) | 0;
        if (r > g.cpl) {
          for (let k = 3; k < 5; k++) {
            if (!this.access(paging, (esp + 4 * k) | 0, 4, user)) return this.fault!;
            w[k] = this.view.getInt32(0, true);
          }
          const ss = w[4]! & 0xffff;
          if (ss !== 0x10 + 0x11 * r) return { vector: VEC_GP, errorCode: ss & 0xfffc };
          nEsp = w[3]!;
        }
        g.eflags = popfValue(g.eflags, g.cpl, w[2]!);
        regs[4] = nEsp;
        g.cpl = r;
        next = w[0]!;
        break;
      }
      case 0x72: // lidt (privileged: the hardware checked cpl before the access faulted)
        if (g.cpl !== 0) return { vector: VEC_GP, errorCode: 0 };
        if (!this.access(paging, m, 6, ACC_READ)) return this.fault!;
        g.idtrLimit = this.buf[0]! | (this.buf[1]! << 8);
        g.idtrBase = this.view.getInt32(2, true);
        break;
      case 0x73: // sidt
        this.view.setUint16(0, g.idtrLimit, true);
        this.view.setInt32(2, g.idtrBase, true);
        if (!this.access(paging, m, 6, ACC_WRITE | user)) return this.fault!;
        break;
      default:
        return 'unsupported';
    }
    g.eip = next;
    g.icount++;
    return 'retired';
  }

  /**
   * Deliver an event through the guest IDT in software (DESIGN §3.7, §3.10.3–5), with
   * the escalation to #DF and shutdown — for a delivery the hardware could not finish
   * natively because a frame push, the gate or ESP0 lies on a page that is never mapped
   * (MMIO, open bus) or is a traced table. `savedEip` is what the frame holds,
   * `faultEip` what a fault raised while delivering saves (§3.10.4).
   */
  deliver(
    g: EmuGuest,
    paging: GuestPaging,
    vector: number,
    kind: EventKind,
    errorCode: number | null,
    savedEip: number,
    faultEip: number,
  ): 'delivered' | 'shutdown' {
    let v = vector;
    let k = kind;
    let err = errorCode;
    let saved = savedEip;
    for (;;) {
      this.fault = null;
      attempt(g.chain, v, KIND_OF[k]);
      const f = this.enter(g, paging, v, k, err, saved);
      if (f === null) {
        g.chain.length = 0;
        g.trace.push(traceEntry(g, v, k, err, saved));
        if (k === 'software') g.icount++; // DESIGN §3.10.8: int n retires when its handler is entered
        g.halted = false;
        return 'delivered';
      }
      if (f.vector === VEC_PF && f.cr2 !== undefined && !this.bugs.cr2NotSet) g.cr2 = f.cr2 | 0; // §3.10.2
      const next = escalation(classOf(v, k), deliveryFaultClass(f.vector));
      if (next === 'shutdown') {
        attempt(g.chain, f.vector, KIND_EXC);
        g.trace.push({ icount: g.icount, kind: 'shutdown', chain: chainVectors(g.chain) });
        return 'shutdown';
      }
      if (next === 'double-fault') {
        v = VEC_DF;
        err = 0;
      } else {
        v = f.vector;
        err = f.errorCode;
      }
      k = 'exception';
      saved = faultEip;
    }
  }

  /** Enter one event's handler; every check and read before any register changes. */
  private enter(g: EmuGuest, paging: GuestPaging, v: number, kind: EventKind, err: number | null, saved: number): EmuFault | null {
    const ext = kind === 'software' ? 0 : 1;
    const gateErr = v * 8 + 2 + ext;
    if (v * 8 + 7 > g.idtrLimit) return { vector: VEC_GP, errorCode: gateErr };
    if (!this.access(paging, (g.idtrBase + v * 8) | 0, 8, ACC_READ)) return this.fault;
    const attr = this.buf[5]!;
    const type = attr & 0x1f;
    const offset = this.view.getUint16(0, true) | (this.view.getUint16(6, true) << 16);
    const selector = this.view.getUint16(2, true);
    if (type !== 0x0e && type !== 0x0f) return { vector: VEC_GP, errorCode: gateErr };
    if (kind === 'software' && ((attr >>> 5) & 3) < g.cpl) return { vector: VEC_GP, errorCode: v * 8 + 2 };
    if ((attr & 0x80) === 0) return { vector: VEC_NP, errorCode: gateErr };
    if (selector !== 0x08) return { vector: VEC_GP, errorCode: gateErr };
    const oldCpl = g.cpl;
    const oldEsp = g.regs[4]!;
    let sp = oldEsp;
    const push = (value: number): boolean => {
      sp = (sp - 4) | 0;
      this.view.setInt32(0, value, true);
      return this.access(paging, sp, 4, ACC_WRITE);
    };
    if (oldCpl > 0) {
      if (!this.access(paging, (g.tr + 4) | 0, 4, ACC_READ)) return this.fault;
      sp = this.view.getInt32(0, true);
      if (!push(0x10 + 0x11 * oldCpl) || !push(oldEsp)) return this.fault;
    }
    if (!push(g.eflags) || !push(0x08 + 0x11 * oldCpl) || !push(saved)) return this.fault;
    if (err !== null && !push(err)) return this.fault;
    g.regs[4] = sp;
    g.cpl = 0;
    g.eip = offset;
    if (type === 0x0e) g.eflags &= ~EFLAGS_IF;
    return null;
  }

  /**
   * Read `n` ≤ 8 bytes at `gva` as one access (below): the bytes (valid until the next
   * call), or the #PF it raised. For a VMM that performs an instruction itself and needs
   * only its memory operand (trap-emulate's `lidt`).
   */
  read(paging: GuestPaging, gva: number, n: number, access: number): Uint8Array | EmuFault {
    this.fault = null;
    return this.access(paging, gva, n, access) ? this.buf : this.fault!;
  }

  /**
   * One access of n ≤ 8 bytes (DESIGN §3.5, §3.10.12): translate each distinct page in
   * byte order, then perform the bytes; only an aligned 4-byte data access reaches the
   * device (§3.2). On a #PF sets `fault` (CR2 = the page's first faulting byte).
   */
  access(paging: GuestPaging, gva: number, n: number, access: number): boolean {
    const first = 0x1000 - (gva & 0xfff);
    const split = n > first;
    const write = (access & ACC_WRITE) !== 0;
    const gpa0 = this.translate(paging, gva, access);
    if (gpa0 < 0) return false;
    let gpa1 = 0;
    if (split) {
      gpa1 = this.translate(paging, (gva + first) | 0, access);
      if (gpa1 < 0) return false;
    }
    if (n === 4 && !split && (gpa0 & 3) === 0 && (access & ACC_FETCH) === 0 && gpa0 >= MMIO_BASE && gpa0 < MMIO_END) {
      this.mmioAccesses++;
      if (write) {
        const v = this.view.getInt32(0, true);
        this.device.write32(gpa0 - MMIO_BASE, v);
        if (this.bugs.mmioEmulatedTwice) this.device.write32(gpa0 - MMIO_BASE, v);
      } else this.view.setInt32(0, this.device.read32(gpa0 - MMIO_BASE), true);
      return true;
    }
    for (let i = 0; i < n; i++) {
      const gpa = i < first ? gpa0 + i : gpa1 + (i - first);
      if (write) this.write8(gpa, this.buf[i]!);
      else this.buf[i] = this.read8(gpa);
    }
    if (write) {
      // Memory tracing (DESIGN §6.5): the store landed; zap what was derived from it.
      this.shadow.tracedWrite(gpa0, Math.min(n, first));
      if (split) this.shadow.tracedWrite(gpa1, n - first);
    }
    return true;
  }

  private translate(paging: GuestPaging, gva: number, access: number): number {
    const r = this.walker.walk(paging, gva, access, true);
    if (r.ok) return r.gpa;
    this.fault = { vector: VEC_PF, errorCode: r.err, cr2: gva >>> 0 };
    return -1;
  }

  private read8(gpa: number): number {
    return gpa < this.p2m.ramBytes ? this.p2m.read8(gpa) : 0xff;
  }

  private write8(gpa: number, v: number): void {
    if (gpa < this.p2m.ramBytes) this.p2m.write8(gpa, v);
  }
}

/** DESIGN §3.4 popf rules at `cpl`: arithmetic flags always, IF if cpl ≤ IOPL, IOPL at cpl 0. */
export function popfValue(eflags: number, cpl: number, v: number): number {
  let f = (eflags & ~EFLAGS_STATUS) | (v & EFLAGS_STATUS);
  if (cpl <= (eflags & EFLAGS_IOPL) >>> EFLAGS_IOPL_SHIFT) f = (f & ~EFLAGS_IF) | (v & EFLAGS_IF);
  if (cpl === 0) f = (f & ~EFLAGS_IOPL) | (v & EFLAGS_IOPL);
  return f | EFLAGS_FIXED;
}

export type FaultClass = 'benign' | 'contributory' | 'page-fault' | 'double-fault';
/** The classes of a fault raised while delivering: only #NP, #GP and #PF can be (DESIGN §3.7). */
export type DeliveryFaultClass = 'contributory' | 'page-fault';

/** DESIGN §3.7 classes: only CPU exceptions have one; int n and interrupts are benign. */
export function classOf(vector: number, kind: EventKind): FaultClass {
  if (kind !== 'exception') return 'benign';
  if (vector === VEC_NP || vector === VEC_GP) return 'contributory';
  if (vector === VEC_PF) return 'page-fault';
  if (vector === VEC_DF) return 'double-fault';
  return 'benign';
}

/** The class of a fault a delivery raised: #PF, or one of the gate's #GP / #NP (DESIGN §3.7). */
export function deliveryFaultClass(vector: number): DeliveryFaultClass {
  return vector === VEC_PF ? 'page-fault' : 'contributory';
}

/** DESIGN §3.7, cell by cell: what a fault raised while delivering an event of class `first` becomes. */
export function escalation(first: FaultClass, second: DeliveryFaultClass): 'deliver-new' | 'double-fault' | 'shutdown' {
  return match<[FaultClass, DeliveryFaultClass], 'deliver-new' | 'double-fault' | 'shutdown'>([first, second])
    .with(['double-fault', P._], () => 'shutdown')
    .with(['benign', P._], ['contributory', 'page-fault'], () => 'deliver-new')
    .with(['contributory', 'contributory'], ['page-fault', P._], () => 'double-fault')
    .exhaustive();
}

function traceEntry(g: EmuGuest, v: number, kind: EventKind, err: number | null, saved: number): TraceEntry {
  const icount = g.icount;
  const eip = saved >>> 0;
  if (kind === 'external') return { icount, kind: 'interrupt', vector: v, eip };
  if (kind === 'software') return { icount, kind: 'software', vector: v, eip };
  if (err === null) return { icount, kind: 'exception', vector: v, eip };
  if (v === VEC_PF) return { icount, kind: 'exception', vector: v, errorCode: err, cr2: g.cr2 >>> 0, eip };
  return { icount, kind: 'exception', vector: v, errorCode: err, eip };
}
