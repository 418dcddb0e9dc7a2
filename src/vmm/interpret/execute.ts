// The executor: one decoded instruction against the control block and guest memory
// (DESIGN §3.4). A `switch` over the decoded form with an exhaustive default (DESIGN §1).
// An instruction either completes — every effect applied, eip advanced — or faults with
// no effect but A/D bits (§3.4), so each case does all its accesses before its first
// state change. Checks come in §3.4's order: decode (done), privilege, operand accesses.

import { alu, assertNever, condition, shift, unary } from './alu.ts';
import { ACC_READ, ACC_USER, CR0_PE, CR4_PSE, EFLAGS_IF, EFLAGS_IOPL, EFLAGS_STATUS, VEC_GP } from '../../hw/arch.ts';
import { CR0_LIVE, type ControlBlock, ESP, FAULT, csOf, fault, ssOf } from './control-block.ts';
import type { Insn, MemOperand } from './decode.ts';
import type { LinearAccess } from './linear-access.ts';
import type { GuestPorts } from './ports.ts';

/** How an instruction ended: completed, faulted (fault in the control block), or `int n` to deliver. */
export type ExecResult = 'retired' | 'fault' | 'int';

export class Executor {
  /** The vector of the `int n` that returned 'int'. */
  softwareVector = 0;
  private readonly idtBuf = new Uint8Array(6);

  constructor(
    private readonly cb: ControlBlock,
    private readonly access: LinearAccess,
    private readonly ports: GuestPorts,
  ) {}

  execute(insn: Insn): ExecResult {
    const cb = this.cb;
    const regs = cb.regs;
    const access = this.access;
    const user = cb.cpl === 3;
    switch (insn.op) {
      case 'nop':
        break;
      case 'hlt':
        if (cb.cpl > 0) return this.gp(0);
        cb.halted = true; // §3.7: hlt retires, then the CPU halts
        break;
      case 'mov':
        regs[insn.a] = regs[insn.b]!;
        break;
      case 'mov-imm':
        regs[insn.a] = insn.imm;
        break;
      case 'load': {
        const v = access.read32(ea(cb, insn), user);
        if (v === FAULT) return 'fault';
        regs[insn.a] = v;
        break;
      }
      case 'store':
        if (access.write32(ea(cb, insn), regs[insn.a]!, user) === FAULT) return 'fault';
        break;
      case 'load8': {
        const v = access.read8(ea(cb, insn), user);
        if (v === FAULT) return 'fault';
        regs[insn.a] = v;
        break;
      }
      case 'store8':
        if (access.write8(ea(cb, insn), regs[insn.a]! & 0xff, user) === FAULT) return 'fault';
        break;
      case 'lea':
        regs[insn.a] = ea(cb, insn);
        break;
      case 'alu': {
        const r = alu(cb, insn.fn, regs[insn.a]!, regs[insn.b]!);
        if (r >= 0) regs[insn.a] = r;
        break;
      }
      case 'alu-imm': {
        const r = alu(cb, insn.fn, regs[insn.a]!, insn.imm);
        if (r >= 0) regs[insn.a] = r;
        break;
      }
      case 'shift':
        regs[insn.a] = shift(cb, insn.fn, regs[insn.a]!, insn.count);
        break;
      case 'unary':
        regs[insn.a] = unary(cb, insn.fn, regs[insn.a]!);
        break;
      case 'jmp':
        return this.jump(insn.target);
      case 'jmp-reg':
        return this.jump(regs[insn.a]!);
      case 'jcc':
        if (condition(cb.eflags, insn.cond)) return this.jump(insn.target);
        break;
      case 'call':
        if (this.push((cb.eip + 8) >>> 0, user) === FAULT) return 'fault';
        return this.jump(insn.target);
      case 'call-reg': {
        const target = regs[insn.a]!; // read before the push: `call esp` jumps to the old esp
        if (this.push((cb.eip + 8) >>> 0, user) === FAULT) return 'fault';
        return this.jump(target);
      }
      case 'ret': {
        const v = access.read32(regs[ESP]!, user);
        if (v === FAULT) return 'fault';
        regs[ESP] = regs[ESP]! + 4;
        return this.jump(v);
      }
      case 'push':
        if (this.push(regs[insn.a]!, user) === FAULT) return 'fault'; // `push esp` pushes the old esp
        break;
      case 'push-imm':
        if (this.push(insn.imm, user) === FAULT) return 'fault';
        break;
      case 'pop': {
        const v = access.read32(regs[ESP]!, user);
        if (v === FAULT) return 'fault';
        regs[ESP] = regs[ESP]! + 4;
        regs[insn.a] = v; // after the increment: `pop esp` loads the popped value
        break;
      }
      case 'pushf':
        if (this.push(cb.eflags, user) === FAULT) return 'fault';
        break;
      case 'popf': {
        const v = access.read32(regs[ESP]!, user);
        if (v === FAULT) return 'fault';
        regs[ESP] = regs[ESP]! + 4;
        this.applyPoppedFlags(v, cb.cpl); // §3.4: no fault when IF cannot change
        break;
      }
      case 'cli':
        if (cb.cpl > cb.iopl) return this.gp(0);
        cb.eflags &= ~EFLAGS_IF;
        break;
      case 'sti':
        if (cb.cpl > cb.iopl) return this.gp(0);
        if ((cb.eflags & EFLAGS_IF) === 0) {
          cb.eflags |= EFLAGS_IF;
          cb.stiShadow = true; // §3.10.6: only an sti that sets IF creates the shadow
        }
        break;
      case 'int':
        this.softwareVector = insn.vector;
        return 'int';
      case 'iret':
        return this.iret(user);
      case 'in':
        if (cb.cpl > cb.iopl) return this.gp(0);
        regs[insn.a] = this.ports.in(insn.port);
        break;
      case 'out':
        if (cb.cpl > cb.iopl) return this.gp(0);
        this.ports.out(insn.port, regs[insn.a]!);
        break;
      case 'mov-to-cr':
        if (cb.cpl > 0) return this.gp(0);
        if (!this.writeControlReg(insn.cr, regs[insn.a]!)) return this.gp(0);
        break;
      case 'mov-from-cr':
        if (cb.cpl > 0) return this.gp(0);
        regs[insn.a] = insn.cr === 0 ? cb.cr0 : insn.cr === 2 ? cb.cr2 : insn.cr === 3 ? cb.cr3 : cb.cr4;
        break;
      case 'lidt': {
        if (cb.cpl > 0) return this.gp(0);
        const buf = this.idtBuf;
        if (access.readBytes(ea(cb, insn), 6, user ? ACC_USER : ACC_READ, buf) === FAULT) return 'fault';
        cb.idtrLimit = buf[0]! | (buf[1]! << 8); // limit u16, then base u32 (§3.4)
        cb.idtrBase = (buf[2]! | (buf[3]! << 8) | (buf[4]! << 16) | (buf[5]! << 24)) >>> 0;
        break;
      }
      case 'sidt': {
        const buf = this.idtBuf;
        const limit = cb.idtrLimit;
        const base = cb.idtrBase;
        buf[0] = limit;
        buf[1] = limit >>> 8;
        buf[2] = base;
        buf[3] = base >>> 8;
        buf[4] = base >>> 16;
        buf[5] = base >>> 24;
        if (access.writeBytes(ea(cb, insn), 6, buf, user) === FAULT) return 'fault';
        break;
      }
      case 'ltr':
        if (cb.cpl > 0) return this.gp(0);
        cb.tr = regs[insn.a]!;
        break;
      case 'str':
        regs[insn.a] = cb.tr;
        break;
      case 'invlpg':
        // §3.6: no TLB in VX32's semantics, and this interpreter keeps none either.
        if (cb.cpl > 0) return this.gp(0);
        break;
      case 'mov-from-cs':
        regs[insn.a] = csOf(cb.cpl);
        break;
      default:
        return assertNever(insn);
    }
    cb.eip = (cb.eip + 8) >>> 0;
    return 'retired';
  }

  private jump(target: number): ExecResult {
    this.cb.eip = target >>> 0;
    return 'retired';
  }

  private gp(errorCode: number): ExecResult {
    fault(this.cb, VEC_GP, errorCode);
    return 'fault';
  }

  /** §3.4 push: the write first, then esp moves; a faulting push leaves esp alone. */
  private push(value: number, user: boolean): number {
    const sp = (this.cb.regs[ESP]! - 4) >>> 0;
    if (this.access.write32(sp, value, user) === FAULT) return FAULT;
    this.cb.regs[ESP] = sp;
    return 0;
  }

  /** §3.4 popf rules, also iret's, always at the cpl before the instruction. */
  private applyPoppedFlags(v: number, cpl: number): void {
    const cb = this.cb;
    let mask = EFLAGS_STATUS;
    if (cpl <= cb.iopl) mask |= EFLAGS_IF;
    if (cpl === 0) mask |= EFLAGS_IOPL;
    cb.eflags = ((cb.eflags & ~mask) | (v & mask)) >>> 0;
  }

  /** §3.4: false means #GP(0). */
  private writeControlReg(cr: 0 | 2 | 3 | 4, v: number): boolean {
    const cb = this.cb;
    switch (cr) {
      case 0:
        if ((v & CR0_PE) === 0 || (v & ~CR0_LIVE) !== 0) return false;
        cb.cr0 = v;
        return true;
      case 2:
        cb.cr2 = v;
        return true;
      case 3:
        cb.cr3 = (v & 0xfffff000) >>> 0;
        return true;
      case 4:
        if ((v & ~CR4_PSE) !== 0) return false;
        cb.cr4 = v;
        return true;
      default:
        return assertNever(cr);
    }
  }

  /**
   * §3.4, §3.10.11: pop eip, CS, eflags; check CS; to an outer ring also pop esp, SS and
   * check SS; only then change state, applying eflags with the popf rules at the old cpl.
   */
  private iret(user: boolean): ExecResult {
    const cb = this.cb;
    const access = this.access;
    const sp = cb.regs[ESP]!;
    const eip = access.read32(sp, user);
    if (eip === FAULT) return 'fault';
    const csWord = access.read32((sp + 4) >>> 0, user);
    if (csWord === FAULT) return 'fault';
    const flags = access.read32((sp + 8) >>> 0, user);
    if (flags === FAULT) return 'fault';
    const cs = csWord & 0xffff; // §3.10.11: the selector is the low 16 bits
    const r = cs & 3;
    if (r < cb.cpl || cs !== csOf(r)) return this.gp(cs & 0xfffc);
    let esp = (sp + 12) >>> 0;
    if (r > cb.cpl) {
      const outerEsp = access.read32((sp + 12) >>> 0, user);
      if (outerEsp === FAULT) return 'fault';
      const ssWord = access.read32((sp + 16) >>> 0, user);
      if (ssWord === FAULT) return 'fault';
      const ss = ssWord & 0xffff;
      if (ss !== ssOf(r)) return this.gp(ss & 0xfffc);
      esp = outerEsp;
    }
    this.applyPoppedFlags(flags, cb.cpl);
    cb.cpl = r;
    cb.regs[ESP] = esp;
    cb.eip = eip;
    return 'retired';
  }
}

/** §3.3: m = (NOBASE ? 0 : reg[b]) + imm, mod 2^32. */
function ea(cb: ControlBlock, m: MemOperand): number {
  return ((m.base < 0 ? 0 : cb.regs[m.base]!) + m.disp) >>> 0;
}
