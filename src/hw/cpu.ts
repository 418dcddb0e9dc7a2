// The host CPU: VX32 (DESIGN §3) with rings 0–3, as a fast interpreter (STYLE §5).
//
// Hot-path rules: registers in an Int32Array, a `switch` on the opcode byte, the TLB
// consulted inline (one AND, one compare) for fetches, loads and stores, and nothing
// allocated per instruction. Faults are not thrown: an access that faults records the
// vector and error code in `fv`/`fe` and returns; `exec` then returns R_FAULT and the
// boundary logic (`step`, `runBurst`) hands the event to deliver.ts.
//
// Seams for the VMMs (DESIGN §4, declared in seams.ts), both consulted only on slow paths:
// - `trap` (a `TrapHandler`, legacy.ts): when set, every event the CPU would deliver
//   through the IDT (exceptions, `int n`, external interrupts) goes to the monitor instead;
// - `vmx` (a `NonRoot`, vmx.ts): non null while a guest runs in VMX non-root mode. The
//   instructions a control can make exit (hlt, mov cr, lidt/sidt/ltr/str, invlpg,
//   in/out) test it in their own `case`; page faults and EPT failures test it in
//   `access`; delivery in deliver.ts. The fast paths (TLB hits, ALU, jumps) never look
//   at it.
// `native` leaves both null.

import type { TraceEntry } from '../../spec/observation.ts';
import * as arch from './arch.ts';
import { HwBugs } from './bugs.ts';
import { FIELDS, IMM_MAX, badNobase, isCr } from './decode.ts';
import { deliverEvent } from './deliver.ts';
import { dtQual, ioQual } from './exits.ts';
import type { PhysMem } from './memory.ts';
import { Mmu, XF_EPT } from './mmu.ts';
import * as seams from './seams.ts';
import type { NonRoot, TrapHandler } from './seams.ts';
import { MASK_READ_SUP, MASK_READ_USER, MASK_WRITE_SUP, MASK_WRITE_USER, TLB_FRAME, Tlb } from './tlb.ts';

// The interpreter reads these numbers on every instruction. V8 (Node 20) reads an imported
// binding through its module cell every time, but a module-local const cheaply, so the
// names are bound once here to arch.ts's and seams.ts's values (still defined only there).
// Measured with `popek bench`: importing them directly cost the native engine 10–35 %.
const {
  ACC_FETCH,
  ACC_PFEC_MASK,
  ACC_READ,
  ACC_USER,
  ACC_WRITE,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  EFLAGS_CF,
  EFLAGS_FIXED,
  EFLAGS_IF,
  EFLAGS_IOPL,
  EFLAGS_IOPL_SHIFT,
  EFLAGS_OF,
  EFLAGS_SF,
  EFLAGS_STATUS,
  EFLAGS_ZF,
  FRAME_MASK,
  PAGE_OFFSET_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  PFEC_U,
  VEC_GP,
  VEC_NP,
  VEC_PF,
  VEC_UD,
} = arch;
const { FV_EXIT, KIND_EXC, KIND_EXT, KIND_SW, R_FAULT, R_INT, R_RETIRED, S_EXIT, S_HALTED, S_RETIRED, S_SHUTDOWN } = seams;

const NOBASE_BIT = 0x8 << 16;
/**
 * The most instructions one call of `exec` retires; runBurst calls it again. Measured with
 * `popek bench --steps 30000000`, runs side by side: the native tight loop at 131–135 M
 * instr/s with this bound, 118–124 without. The likely reason: as one call, a long run
 * stays in the code V8 compiled to enter the running loop (on-stack replacement); as many
 * calls, it runs exec's normally optimized code.
 */
const EXEC_BURST = 1 << 16;
/** The last offset at which an access of 8 (fetch) or 4 bytes stays inside its page. */
const LAST_OFFSET_8 = PAGE_SIZE - 8;
const LAST_OFFSET_4 = PAGE_SIZE - 4;

/** The TLB mask a hit needs, indexed by the access word's write and user bits (KVM's permissions[]). */
const TLB_MASK = new Int32Array(ACC_PFEC_MASK + 1);
TLB_MASK[ACC_READ] = MASK_READ_SUP;
TLB_MASK[ACC_USER] = MASK_READ_USER;
TLB_MASK[ACC_WRITE] = MASK_WRITE_SUP;
TLB_MASK[ACC_WRITE | ACC_USER] = MASK_WRITE_USER;

export class Cpu {
  readonly mem: PhysMem;
  readonly tlb: Tlb;
  readonly mmu: Mmu;
  // Direct references for the hot paths.
  private readonly ram: Uint8Array;
  private readonly ram32: Int32Array;
  /** The TLB's entries (replaced once, by `release`). */
  private tlbE: Int32Array;
  private readonly isTable: Uint8Array;

  // Architectural state (DESIGN §3.1). 32-bit values are kept as int32.
  readonly regs = new Int32Array(8);
  eip = 0;
  eflags = EFLAGS_FIXED;
  cpl = 0;
  cr0 = CR0_PE;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  idtrBase = 0;
  idtrLimit = 0;
  tr = 0;
  /** Pending external vectors: one byte per vector, plus their number. */
  readonly pending = new Uint8Array(256);
  pendingCount = 0;
  stiShadow = false;
  halted = false;
  shutdown = false;

  // Guest-visible outputs (DESIGN §2).
  icount = 0;
  readonly console: number[] = [];
  /** Where delivered events are recorded; vmx.ts points it at the running guest's trace. */
  trace: TraceEntry[] = [];
  /** chain.ts; vmx.ts points it at the running guest's, as `trace`. */
  chain: number[] = [];

  /** Installed monitor; null delivers through the guest IDT (DESIGN §4 seam). */
  trap: TrapHandler | null = null;
  /** Non-null exactly while a guest runs in VMX non-root mode (vmx.ts). */
  vmx: NonRoot | null = null;

  // The fault being raised: vector (0 = none) and error code (−1 = none).
  fv = 0;
  fe = -1;
  /** Vector of the `int n` that `exec` returned R_INT for. */
  swVec = 0;
  /** The gva of the last #PF (a #PF exit's qualification: CR2 stays untouched). */
  pfGva = 0;

  // TLB masks for the current cpl (tlb.ts): a hit needs every bit of the mask.
  private rMask = MASK_READ_SUP;
  private wMask = MASK_WRITE_SUP;
  /** ACC_USER at cpl 3, else 0: the user bit of an ordinary access's access word. */
  private userAcc = 0;

  /** Bytes of the last slow-path access (≤ 8), with a little-endian word view. */
  readonly buf = new Uint8Array(8);
  readonly buf32 = new Int32Array(this.buf.buffer);

  // Counters (not guest-visible).
  tlbHits = 0;
  tlbMisses = 0;
  tableStoreFlushes = 0;

  constructor(
    mem: PhysMem,
    readonly bugs: HwBugs = new HwBugs(),
  ) {
    this.mem = mem;
    this.tlb = new Tlb(mem.frames);
    this.mmu = new Mmu(mem, this.tlb, bugs);
    this.ram = mem.ram;
    this.ram32 = mem.ram32;
    this.tlbE = this.tlb.entries;
    this.isTable = this.tlb.isTable;
  }

  /**
   * The machine is done with: its TLB's arrays go to the next CPU built on this thread
   * (tlb.ts). Afterwards the TLB never hits, so the CPU still runs correctly, only slowly.
   */
  release(): void {
    this.tlb.release();
    this.tlbE = this.tlb.entries;
  }

  // ---------------------------------------------------------------------------------
  // Boundary logic: interrupts, halt, the STI shadow (DESIGN §3.7, §3.10.6–9)

  /** One step: an instruction retired or an event's handler entered. */
  step(): number {
    if (this.shutdown) return S_SHUTDOWN;
    // DESIGN §3.10.6: the shadow covers exactly the boundary after the `sti`.
    const shadow = this.stiShadow;
    this.stiShadow = false;
    if (!shadow && this.pendingCount !== 0 && (this.eflags & EFLAGS_IF) !== 0) return this.deliverExternal();
    if (this.halted) return S_HALTED;
    return this.finish(this.exec(1));
  }

  /**
   * Steps until `maxSteps` steps were taken, `icount` reached `icountLimit` (the next
   * scheduled event), the CPU halted with nothing deliverable, or it shut down. Returns
   * the number of steps taken. Only boundaries that need attention go through `step`.
   */
  runBurst(maxSteps: number, icountLimit: number): number {
    let steps = 0;
    while (steps < maxSteps && this.icount < icountLimit) {
      if (this.pendingCount !== 0 || this.stiShadow || this.halted || this.shutdown) {
        const s = this.step();
        if (s === S_HALTED || s === S_SHUTDOWN) return steps;
        steps++;
        continue;
      }
      // Nothing pending, no STI shadow, not halted: `exec` retires instructions back to
      // back. Each retired one adds 1 to both `steps` and `icount`, so one budget bounds
      // both limits.
      const before = this.icount;
      const r = this.exec(Math.min(maxSteps - steps, icountLimit - before, EXEC_BURST));
      steps += this.icount - before;
      if (r !== R_RETIRED) {
        steps++; // the step that raised an event (or exited) without retiring
        if (this.finish(r) === S_SHUTDOWN) return steps;
      }
    }
    return steps;
  }

  /** Whether an external interrupt would be delivered at this boundary. */
  interruptDeliverable(): boolean {
    return this.pendingCount !== 0 && (this.eflags & EFLAGS_IF) !== 0 && !this.stiShadow;
  }

  /** Raise an external interrupt: the vector joins `pending` (DESIGN §3.7). */
  raise(vector: number): void {
    if (this.pending[vector] === 0) {
      this.pending[vector] = 1;
      this.pendingCount++;
    }
  }

  deliverExternal(): number {
    // DESIGN §3.10.7: the vector leaves `pending` when delivery begins.
    let v = 0;
    while (this.pending[v] === 0) v++;
    this.pending[v] = 0;
    this.pendingCount--;
    return deliverEvent(this, v, KIND_EXT, -1, this.eip, this.eip);
  }

  /** Turn an `exec` result into a step outcome, delivering what it raised. */
  finish(r: number): number {
    if (r === R_RETIRED) return S_RETIRED;
    if (r === R_INT) return deliverEvent(this, this.swVec, KIND_SW, -1, (this.eip + 8) | 0, this.eip);
    const v = this.fv;
    const e = this.fe;
    this.fv = 0;
    this.fe = -1;
    if (v === FV_EXIT) return S_EXIT; // vmx.ts recorded it; the instruction did not retire
    // DESIGN §3.4: a faulting instruction has no effect, so eip is still its own.
    return deliverEvent(this, v, KIND_EXC, e, this.eip, this.eip);
  }

  // ---------------------------------------------------------------------------------
  // The interpreter: one instruction (DESIGN §3.3–3.4)

  /**
   * Instructions back to back: at most `budget`, and none after a `hlt` or an `sti` that
   * sets the STI shadow (the boundary after it needs `step`). Returns R_RETIRED when the last
   * one retired, else what the last one raised (it did not retire). The loop is in here,
   * not in the caller, so that the hot path is one function V8 optimizes as a whole.
   */
  exec(budget: number): number {
    const regs = this.regs;
    // eip lives in a local between instructions: the next fetch's address then comes from
    // a register, not from a load of the field the last instruction just stored.
    let eip = this.eip;
    for (;;) {
      let w0: number;
      let imm: number;
      // Fetch: an 8-byte read at the current cpl (DESIGN §3.5). Fast when aligned, inside
      // one page and cached; otherwise the general path (straddles, MMIO, misses).
      const e = this.tlbE[eip >>> PAGE_SHIFT]!;
      const rm = this.rMask;
      if ((e & rm) === rm && (eip & 3) === 0 && (eip & PAGE_OFFSET_MASK) <= LAST_OFFSET_8) {
        this.tlbHits++;
        const i = ((e & TLB_FRAME) | (eip & PAGE_OFFSET_MASK)) >> 2;
        w0 = this.ram32[i]!;
        imm = this.ram32[i + 1]!;
      } else {
        if (!this.access(eip, 8, ACC_FETCH | this.userAcc)) return R_FAULT;
        w0 = this.buf32[0]!;
        imm = this.buf32[1]!;
      }

      // Decode (DESIGN §3.3): every rule is a #UD, checked before any privilege check.
      const op = w0 & 0xff;
      if ((w0 & ~FIELDS[op]!) !== 0 || badNobase(w0)) return this.ud();
      const immMax = IMM_MAX[op]!;
      if (immMax !== -1 && imm >>> 0 > immMax) return this.ud();
      const a = (w0 >>> 8) & 7;
      const b = (w0 >>> 16) & 7;
      let next = (eip + 8) | 0;

      switch (op) {
        case 0x01: // nop
          break;
        case 0x02: // hlt: retires, then the CPU halts (DESIGN §3.7)
          if (this.cpl !== 0) return this.gp(0);
          if (this.vmx !== null && this.vmx.ctl.hltExiting) return this.vmx.exitInstruction('hlt', 0, null, w0, imm);
          this.halted = true;
          budget = 1; // retire it, then stop: the boundary after it needs `step`
          break;
        case 0x10: // mov a, b
          regs[a] = regs[b]!;
          break;
        case 0x11: // mov a, imm
          regs[a] = imm;
          break;
        case 0x12: {
          // mov a, [m]
          const v = this.rd32(((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm);
          if (this.fv !== 0) return R_FAULT;
          regs[a] = v;
          break;
        }
        case 0x13: // mov [m], a
          this.wr32(((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm, regs[a]!);
          if (this.fv !== 0) return R_FAULT;
          break;
        case 0x14: {
          // movzx a, byte [m]
          const v = this.rd8(((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm);
          if (this.fv !== 0) return R_FAULT;
          regs[a] = v;
          break;
        }
        case 0x15: // mov byte [m], a8
          this.wr8(((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm, regs[a]! & 0xff);
          if (this.fv !== 0) return R_FAULT;
          break;
        case 0x16: // lea a, [m]: no memory access
          regs[a] = ((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm;
          break;

        // ALU (DESIGN §3.4: flags as IA-32)
        case 0x20: // add a, b
          regs[a] = this.add(regs[a]!, regs[b]!);
          break;
        case 0x21: // sub a, b
          regs[a] = this.sub(regs[a]!, regs[b]!);
          break;
        case 0x22: // and a, b
          regs[a] = this.logic(regs[a]! & regs[b]!);
          break;
        case 0x23: // or a, b
          regs[a] = this.logic(regs[a]! | regs[b]!);
          break;
        case 0x24: // xor a, b
          regs[a] = this.logic(regs[a]! ^ regs[b]!);
          break;
        case 0x25: // cmp a, b
          this.sub(regs[a]!, regs[b]!);
          break;
        case 0x26: // test a, b
          this.logic(regs[a]! & regs[b]!);
          break;
        case 0x28: // add a, imm
          regs[a] = this.add(regs[a]!, imm);
          break;
        case 0x29: // sub a, imm
          regs[a] = this.sub(regs[a]!, imm);
          break;
        case 0x2a: // and a, imm
          regs[a] = this.logic(regs[a]! & imm);
          break;
        case 0x2b: // or a, imm
          regs[a] = this.logic(regs[a]! | imm);
          break;
        case 0x2c: // xor a, imm
          regs[a] = this.logic(regs[a]! ^ imm);
          break;
        case 0x2d: // cmp a, imm
          this.sub(regs[a]!, imm);
          break;
        case 0x2e: // test a, imm
          this.logic(regs[a]! & imm);
          break;
        case 0x30: // shl a, imm
          if (imm !== 0) {
            const x = regs[a]!;
            const r = x << imm;
            const cf = (x >>> (32 - imm)) & 1;
            this.setFlags(r, cf, imm === 1 ? (r >>> 31) ^ cf : 0);
            regs[a] = r;
          }
          break;
        case 0x31: // shr a, imm
          if (imm !== 0) {
            const x = regs[a]!;
            const r = x >>> imm;
            this.setFlags(r | 0, (x >>> (imm - 1)) & 1, imm === 1 ? x >>> 31 : 0);
            regs[a] = r;
          }
          break;
        case 0x32: // sar a, imm
          if (imm !== 0) {
            const x = regs[a]!;
            const r = x >> imm;
            this.setFlags(r, (x >> (imm - 1)) & 1, 0);
            regs[a] = r;
          }
          break;
        case 0x33: // not a: no flags
          regs[a] = ~regs[a]!;
          break;
        case 0x34: {
          // neg a: CF = (src ≠ 0), OF = (src = 0x80000000)
          const x = regs[a]!;
          const r = -x | 0;
          this.setFlags(r, x !== 0 ? 1 : 0, x === -0x80000000 ? 1 : 0);
          regs[a] = r;
          break;
        }
        case 0x35: {
          // inc a: keeps CF
          const x = regs[a]!;
          const r = (x + 1) | 0;
          this.setFlags(r, this.eflags & EFLAGS_CF, r === -0x80000000 ? 1 : 0);
          regs[a] = r;
          break;
        }
        case 0x36: {
          // dec a: keeps CF
          const x = regs[a]!;
          const r = (x - 1) | 0;
          this.setFlags(r, this.eflags & EFLAGS_CF, x === -0x80000000 ? 1 : 0);
          regs[a] = r;
          break;
        }

        // Control flow (absolute targets)
        case 0x40: // jmp imm
          next = imm;
          break;
        case 0x41: // jmp a
          next = regs[a]!;
          break;
        case 0x42: // call imm
          if (!this.push(next)) return R_FAULT;
          next = imm;
          break;
        case 0x43: {
          // call a
          const t = regs[a]!; // read before the push: `call esp` jumps to the old esp
          if (!this.push(next)) return R_FAULT;
          next = t;
          break;
        }
        case 0x44: {
          // ret
          const v = this.rd32(regs[4]!);
          if (this.fv !== 0) return R_FAULT;
          regs[4] = (regs[4]! + 4) | 0;
          next = v;
          break;
        }
        case 0x45: // push a
          if (!this.push(regs[a]!)) return R_FAULT;
          break;
        case 0x46: // push imm
          if (!this.push(imm)) return R_FAULT;
          break;
        case 0x47: {
          // pop a
          const v = this.rd32(regs[4]!);
          if (this.fv !== 0) return R_FAULT;
          regs[4] = (regs[4]! + 4) | 0;
          regs[a] = v; // after esp: `pop esp` loads the popped value
          break;
        }
        case 0x50:
        case 0x51:
        case 0x52:
        case 0x53:
        case 0x54:
        case 0x55:
        case 0x56:
        case 0x57:
        case 0x58:
        case 0x59:
        case 0x5c:
        case 0x5d:
        case 0x5e:
        case 0x5f: // jcc imm (5A, 5B undefined)
          if (this.cond(op & 0xf)) next = imm;
          break;

        // System (DESIGN §3.4)
        case 0x60: // pushf
          if (!this.push(this.eflags)) return R_FAULT;
          break;
        case 0x61: {
          // popf
          const v = this.rd32(regs[4]!);
          if (this.fv !== 0) return R_FAULT;
          regs[4] = (regs[4]! + 4) | 0;
          this.eflags = this.popfValue(v);
          break;
        }
        case 0x62: // cli
          if (this.cpl > ((this.eflags >>> EFLAGS_IOPL_SHIFT) & 3)) return this.gp(0);
          this.eflags &= ~EFLAGS_IF;
          break;
        case 0x63: // sti
          if (this.cpl > ((this.eflags >>> EFLAGS_IOPL_SHIFT) & 3)) return this.gp(0);
          if ((this.eflags & EFLAGS_IF) === 0) {
            this.eflags |= EFLAGS_IF;
            this.stiShadow = !this.bugs.stiShadowIgnored; // DESIGN §3.10.6: only a 0 → 1 change
            budget = 1; // as hlt: the boundary after it needs `step`
          }
          break;
        case 0x64: // int imm
          this.swVec = imm;
          return R_INT;
        case 0x65: // iret
          if (!this.iret()) return R_FAULT;
          next = this.eip;
          break;
        // SDM vol. 3C 25.1.1: #UD and privilege #GP come before a VM exit; I/O is
        // privileged by IOPL here (VX32 has no I/O bitmap), so that check comes first too.
        case 0x66: // in a, imm
          if (this.cpl > ((this.eflags >>> EFLAGS_IOPL_SHIFT) & 3)) return this.gp(0);
          if (this.vmx !== null && this.vmx.ctl.ioExiting) return this.vmx.exitInstruction('io', ioQual(imm, true, a), null, w0, imm);
          regs[a] = imm === 0xe9 ? 0xe9 : -1;
          break;
        case 0x67: // out imm, a
          if (this.cpl > ((this.eflags >>> EFLAGS_IOPL_SHIFT) & 3)) return this.gp(0);
          if (this.vmx !== null && this.vmx.ctl.ioExiting) return this.vmx.exitInstruction('io', ioQual(imm, false, a), null, w0, imm);
          if (imm === 0xe9) this.console.push(regs[a]! & 0xff);
          break;
        case 0x70: // mov crN, a
          if (!isCr(b)) return this.ud();
          if (this.cpl !== 0) return this.gp(0);
          if (this.vmx !== null) {
            const r = this.vmx.movToCr(b, a, w0, imm);
            if (r !== R_RETIRED) return r;
            break;
          }
          if (!this.writeCr(b, regs[a]!, 0)) return R_FAULT;
          break;
        case 0x71: // mov a, crN
          if (!isCr(b)) return this.ud();
          if (this.cpl !== 0) return this.gp(0);
          if (this.vmx !== null) {
            const r = this.vmx.movFromCr(b, a, w0, imm);
            if (r !== R_RETIRED) return r;
            break;
          }
          regs[a] = b === 0 ? this.cr0 : b === 2 ? this.cr2 : b === 3 ? this.cr3 : this.cr4;
          break;
        case 0x72: {
          // lidt [m]
          if (this.cpl !== 0) return this.gp(0);
          const m = ((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm;
          if (this.vmx !== null && this.vmx.ctl.descriptorTableExiting) {
            return this.vmx.exitInstruction('idtr-access', dtQual(false, 0), m, w0, imm);
          }
          // lidt: 6-byte read, limit u16 then base u32
          if (!this.access(m, 6, ACC_READ)) return R_FAULT;
          const buf = this.buf;
          this.idtrLimit = buf[0]! | (buf[1]! << 8);
          this.idtrBase = buf[2]! | (buf[3]! << 8) | (buf[4]! << 16) | (buf[5]! << 24);
          break;
        }
        case 0x73: {
          // sidt [m]
          const m = ((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm;
          if (this.vmx !== null && this.vmx.ctl.descriptorTableExiting) {
            return this.vmx.exitInstruction('idtr-access', dtQual(true, 0), m, w0, imm);
          }
          const buf = this.buf;
          const base = this.idtrBase;
          buf[0] = this.idtrLimit;
          buf[1] = this.idtrLimit >>> 8;
          buf[2] = base;
          buf[3] = base >>> 8;
          buf[4] = base >>> 16;
          buf[5] = base >>> 24;
          if (!this.access(m, 6, ACC_WRITE | this.userAcc)) return R_FAULT;
          break;
        }
        case 0x74: // ltr a
          if (this.cpl !== 0) return this.gp(0);
          if (this.vmx !== null && this.vmx.ctl.descriptorTableExiting) {
            return this.vmx.exitInstruction('tr-access', dtQual(false, a), null, w0, imm);
          }
          this.tr = regs[a]!;
          break;
        case 0x75: // str a
          if (this.vmx !== null && this.vmx.ctl.descriptorTableExiting) {
            return this.vmx.exitInstruction('tr-access', dtQual(true, a), null, w0, imm);
          }
          regs[a] = this.tr;
          break;
        case 0x76: {
          // invlpg [m]: no architectural effect (DESIGN §3.6), but the host TLB entry goes.
          if (this.cpl !== 0) return this.gp(0);
          const m = ((w0 & NOBASE_BIT) !== 0 ? 0 : regs[b]!) + imm;
          if (this.vmx !== null && this.vmx.ctl.invlpgExiting) return this.vmx.exitInstruction('invlpg', m >>> 0, m, w0, imm);
          this.tlb.invalidate(m >>> PAGE_SHIFT);
          break;
        }
        case 0x77: // mov a, cs
          regs[a] = 0x08 + 0x11 * this.cpl;
          break;
        default:
          // 00 (zeroed memory), 03 ud2, and every undefined opcode.
          return this.ud();
      }
      this.eip = next;
      this.icount++;
      if (--budget <= 0) return R_RETIRED;
      eip = next;
    }
  }

  // ---------------------------------------------------------------------------------
  // Instruction helpers

  private setFlags(r: number, cf: number, of: number): void {
    this.eflags = (this.eflags & ~EFLAGS_STATUS) | cf | (of << 11) | (r === 0 ? EFLAGS_ZF : 0) | (r < 0 ? EFLAGS_SF : 0);
  }

  private add(x: number, y: number): number {
    const r = (x + y) | 0;
    this.setFlags(r, (x >>> 0) + (y >>> 0) > 0xffffffff ? 1 : 0, ((x ^ r) & (y ^ r)) < 0 ? 1 : 0);
    return r;
  }

  private sub(x: number, y: number): number {
    const r = (x - y) | 0;
    this.setFlags(r, x >>> 0 < y >>> 0 ? 1 : 0, ((x ^ y) & (x ^ r)) < 0 ? 1 : 0);
    return r;
  }

  private logic(r: number): number {
    this.setFlags(r, 0, 0);
    return r;
  }

  /** jcc condition `c` in x86 order (DESIGN §3.3). */
  private cond(c: number): boolean {
    const f = this.eflags;
    let t: boolean;
    switch (c >> 1) {
      case 0:
        t = (f & EFLAGS_OF) !== 0;
        break;
      case 1:
        t = (f & EFLAGS_CF) !== 0;
        break;
      case 2:
        t = (f & EFLAGS_ZF) !== 0;
        break;
      case 3:
        t = (f & (EFLAGS_CF | EFLAGS_ZF)) !== 0;
        break;
      case 4:
        t = (f & EFLAGS_SF) !== 0;
        break;
      case 6:
        t = ((f >>> 7) & 1) !== ((f >>> 11) & 1);
        break;
      default: // 7: le
        t = (f & EFLAGS_ZF) !== 0 || ((f >>> 7) & 1) !== ((f >>> 11) & 1);
        break;
    }
    return (c & 1) === 0 ? t : !t;
  }

  /** DESIGN §3.4 popf rules at the current cpl: status flags always, IF if cpl ≤ IOPL, IOPL if cpl = 0. */
  popfValue(v: number): number {
    let f = (this.eflags & ~EFLAGS_STATUS) | (v & EFLAGS_STATUS);
    if (this.cpl <= ((this.eflags >>> EFLAGS_IOPL_SHIFT) & 3)) f = (f & ~EFLAGS_IF) | (v & EFLAGS_IF);
    if (this.cpl === 0) f = (f & ~EFLAGS_IOPL) | (v & EFLAGS_IOPL);
    return f | EFLAGS_FIXED;
  }

  /** DESIGN §3.4, §3.10.11. On success sets eip (the caller reads it back). */
  private iret(): boolean {
    const regs = this.regs;
    const sp = regs[4]!;
    const nEip = this.rd32(sp);
    if (this.fv !== 0) return false;
    const csWord = this.rd32((sp + 4) | 0);
    if (this.fv !== 0) return false;
    const fl = this.rd32((sp + 8) | 0);
    if (this.fv !== 0) return false;
    const cs = csWord & 0xffff;
    const r = cs & 3;
    if (r < this.cpl || cs !== 0x08 + 0x11 * r) {
      this.gp(cs & 0xfffc);
      return false;
    }
    let nEsp = (sp + 12) | 0;
    if (r > this.cpl) {
      const outerEsp = this.rd32(nEsp);
      if (this.fv !== 0) return false;
      const ssWord = this.rd32((sp + 16) | 0);
      if (this.fv !== 0) return false;
      const ss = ssWord & 0xffff;
      if (ss !== 0x10 + 0x11 * r) {
        this.gp(ss & 0xfffc);
        return false;
      }
      nEsp = outerEsp;
    }
    this.eflags = this.popfValue(fl); // at the old cpl
    regs[4] = nEsp;
    this.setCpl(r);
    this.eip = nEip;
    return true;
  }

  /**
   * `mov crN, a` after the privilege check (DESIGN §3.4). False on #GP. The validity
   * checks apply to `v`, the value the program wrote; bits set in `keep` (a VMX CR0/CR4
   * guest-host mask, SDM vol. 3C 25.3) keep their current value in the register.
   */
  writeCr(n: number, v: number, keep: number): boolean {
    switch (n) {
      case 0:
        if ((v & CR0_PE) === 0 || (v & ~(CR0_PE | CR0_WP | CR0_PG)) !== 0) {
          this.gp(0);
          return false;
        }
        this.cr0 = (v & ~keep) | (this.cr0 & keep);
        this.mmu.setControl(this.cr0, this.cr3, this.cr4, false);
        return true;
      case 2:
        this.cr2 = v;
        return true;
      case 3:
        this.cr3 = v & FRAME_MASK;
        this.mmu.setControl(this.cr0, this.cr3, this.cr4, true);
        return true;
      default:
        if ((v & ~CR4_PSE) !== 0) {
          this.gp(0);
          return false;
        }
        this.cr4 = (v & ~keep) | (this.cr4 & keep);
        this.mmu.setControl(this.cr0, this.cr3, this.cr4, false);
        return true;
    }
  }

  /** Change the privilege level, and with it the TLB masks of ordinary accesses. */
  setCpl(c: number): void {
    this.cpl = c;
    this.rMask = c === 3 ? MASK_READ_USER : MASK_READ_SUP;
    this.wMask = c === 3 ? MASK_WRITE_USER : MASK_WRITE_SUP;
    this.userAcc = c === 3 ? ACC_USER : 0;
  }

  ud(): number {
    this.fv = VEC_UD;
    this.fe = -1;
    return R_FAULT;
  }

  gp(code: number): number {
    this.fv = VEC_GP;
    this.fe = code;
    return R_FAULT;
  }

  np(code: number): number {
    this.fv = VEC_NP;
    this.fe = code;
    return R_FAULT;
  }

  // ---------------------------------------------------------------------------------
  // Linear memory accesses at the current cpl. Each returns normally; on a fault `fv`
  // is set and loads return 0. The fast path is a TLB hit inside one page.

  private rd32(gva: number): number {
    const e = this.tlbE[gva >>> PAGE_SHIFT]!;
    const m = this.rMask;
    if ((e & m) === m && (gva & PAGE_OFFSET_MASK) <= LAST_OFFSET_4) {
      this.tlbHits++;
      const hpa = (e & TLB_FRAME) | (gva & PAGE_OFFSET_MASK);
      if ((hpa & 3) === 0) return this.ram32[hpa >> 2]!;
      const r = this.ram;
      return r[hpa]! | (r[hpa + 1]! << 8) | (r[hpa + 2]! << 16) | (r[hpa + 3]! << 24);
    }
    return this.access(gva, 4, this.userAcc) ? this.buf32[0]! : 0;
  }

  private rd8(gva: number): number {
    const e = this.tlbE[gva >>> PAGE_SHIFT]!;
    const m = this.rMask;
    if ((e & m) === m) {
      this.tlbHits++;
      return this.ram[(e & TLB_FRAME) | (gva & PAGE_OFFSET_MASK)]!;
    }
    return this.access(gva, 1, this.userAcc) ? this.buf[0]! : 0;
  }

  private wr32(gva: number, v: number): void {
    const e = this.tlbE[gva >>> PAGE_SHIFT]!;
    const m = this.wMask;
    if ((e & m) === m && (gva & PAGE_OFFSET_MASK) <= LAST_OFFSET_4) {
      this.tlbHits++;
      const hpa = (e & TLB_FRAME) | (gva & PAGE_OFFSET_MASK);
      if ((hpa & 3) === 0) this.ram32[hpa >> 2] = v;
      else {
        const r = this.ram;
        r[hpa] = v;
        r[hpa + 1] = v >>> 8;
        r[hpa + 2] = v >>> 16;
        r[hpa + 3] = v >>> 24;
      }
      if (this.isTable[hpa >>> PAGE_SHIFT] !== 0) this.tableStore();
      return;
    }
    this.buf32[0] = v;
    this.access(gva, 4, ACC_WRITE | this.userAcc);
  }

  private wr8(gva: number, v: number): void {
    const e = this.tlbE[gva >>> PAGE_SHIFT]!;
    const m = this.wMask;
    if ((e & m) === m) {
      this.tlbHits++;
      const hpa = (e & TLB_FRAME) | (gva & PAGE_OFFSET_MASK);
      this.ram[hpa] = v;
      if (this.isTable[hpa >>> PAGE_SHIFT] !== 0) this.tableStore();
      return;
    }
    this.buf[0] = v;
    this.access(gva, 1, ACC_WRITE | this.userAcc);
  }

  private push(v: number): boolean {
    const sp = (this.regs[4]! - 4) | 0;
    this.wr32(sp, v);
    if (this.fv !== 0) return false;
    this.regs[4] = sp; // DESIGN §3.4: write first, then esp −= 4
    return true;
  }

  /**
   * The general access of `n` ≤ 8 bytes at `gva` (DESIGN §3.5, §3.10.12): translate
   * every distinct page in the order of the bytes, then perform the bytes; reads land
   * in `buf`, writes come from it. `access` is the access word (arch.ts ACC_*): ACC_USER
   * is clear for the implicit supervisor accesses of delivery. Only an aligned 4-byte
   * access can reach the device (DESIGN §3.2); fetches are 8 bytes, so they never do.
   * Returns false with `fv` set on #PF (or FV_EXIT on an EPT exit).
   */
  access(gva: number, n: number, access: number): boolean {
    const hpa0 = this.xlate(gva, access);
    if (hpa0 < 0) return this.xlateFailed(gva, hpa0);
    const firstPageBytes = PAGE_SIZE - (gva & PAGE_OFFSET_MASK);
    let hpa1 = 0;
    const split = n > firstPageBytes;
    if (split) {
      const gva1 = (gva + firstPageBytes) | 0; // first byte of the next page (mod 2^32)
      hpa1 = this.xlate(gva1, access);
      if (hpa1 < 0) return this.xlateFailed(gva1, hpa1);
    }
    const mem = this.mem;
    const write = (access & ACC_WRITE) !== 0;
    if (n === 4 && !split && (hpa0 & 3) === 0) {
      if (write) mem.write32Data(hpa0, this.buf32[0]!);
      else this.buf32[0] = mem.read32Data(hpa0);
    } else {
      const buf = this.buf;
      for (let i = 0; i < n; i++) {
        const hpa = i < firstPageBytes ? hpa0 + i : hpa1 + (i - firstPageBytes);
        if (write) mem.write8(hpa, buf[i]!);
        else buf[i] = mem.read8(hpa);
      }
    }
    if (write) {
      // Coherence (tlb.ts): a store into a walked frame flushes, after the bytes land.
      const frames = mem.frames;
      const f0 = hpa0 >>> PAGE_SHIFT;
      const f1 = hpa1 >>> PAGE_SHIFT;
      if ((f0 < frames && this.isTable[f0] !== 0) || (split && f1 < frames && this.isTable[f1] !== 0)) {
        this.tableStore();
      }
    }
    return true;
  }

  /** Translate one page's address, through the TLB when it can. Returns the hpa, or < 0 (mmu.ts). */
  private xlate(gva: number, access: number): number {
    const e = this.tlbE[gva >>> PAGE_SHIFT]!;
    const m = TLB_MASK[access & ACC_PFEC_MASK]!;
    if ((e & m) === m) {
      this.tlbHits++;
      return (e & TLB_FRAME) | (gva & PAGE_OFFSET_MASK);
    }
    this.tlbMisses++;
    return this.mmu.walk(gva, access);
  }

  /** A failed walk (mmu.ts result layout): a guest #PF or, in non-root mode with EPT, an EPT exit. */
  private xlateFailed(gva: number, xlate: number): boolean {
    const cause = ~xlate;
    if ((cause & XF_EPT) === 0) return this.pageFault(gva, cause);
    this.vmx!.eptExit(gva, xlate);
    this.fv = FV_EXIT;
    this.fe = -1;
    return false;
  }

  private pageFault(gva: number, pfec: number): boolean {
    // DESIGN §3.10.2: CR2 is written when the #PF is detected — except that a #PF that
    // exits to the VMM leaves the guest's CR2 alone (SDM vol. 3C 27.1).
    this.pfGva = gva | 0;
    if (this.vmx === null || !this.vmx.pfExits) this.cr2 = gva | 0;
    this.fv = VEC_PF;
    this.fe = this.bugs.pfNoUserBit ? pfec & ~PFEC_U : pfec;
    return false;
  }

  /**
   * A store reached a frame that a cached translation was walked through. VX32 has no
   * TLB (DESIGN §3.6), so the next access must see the new entry: drop everything.
   * Finer invalidation (per-frame reverse lists) would save re-walks for guests that
   * edit live tables often; a full flush is simple and obviously coherent.
   */
  private tableStore(): void {
    if (this.bugs.stalePtWrite) return;
    this.tableStoreFlushes++;
    this.tlb.flush();
  }
}
