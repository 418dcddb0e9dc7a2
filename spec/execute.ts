// DESIGN §3.4 — instruction semantics. One case per instruction kind of the encoding
// table (isa.ts), in the table's order; the `switch` ends in `assertNever`, so adding a
// kind without its semantics does not compile.
//
// Every case either completes (returns undefined, having set eip) or returns the Fault
// that stopped it, before changing any architectural state (§3.4: "an instruction that
// faults has no effect except A/D bits"), or asks for a software interrupt.

import {
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  ESP,
  IF,
  STATUS_FLAGS,
  IOPL_MASK,
  canonicalEflags,
  codeSelector,
  iopl,
  stackSelector,
  type CpuState,
} from './state.ts';
import { alu, condition, incDec, neg, shift } from './alu.ts';
import { readBytes, readData, writeBytes, writeData } from './access.ts';
import { Fault, gp, isFault, ud } from './faults.ts';
import { assertNever, type Insn } from './isa.ts';
import type { Access, AccessKind } from './paging.ts';
import type { PhysMem } from './phys.ts';

/** What an instruction operates on. */
export interface Hart {
  s: CpuState;
  mem: PhysMem;
  /** Bytes written to port 0xE9 (§3.4). */
  console: number[];
}

/** `int n` completes by delivering vector n; delivery (events.ts) decides whether it retires. */
export class SoftwareInterrupt {
  constructor(readonly vector: number) {}
}

export type ExecResult = undefined | Fault | SoftwareInterrupt;

export const CONSOLE_PORT = 0xe9;

const ACCESS: Record<AccessKind, readonly [Access, Access]> = {
  read: [
    { kind: 'read', user: false },
    { kind: 'read', user: true },
  ],
  write: [
    { kind: 'write', user: false },
    { kind: 'write', user: true },
  ],
  fetch: [
    { kind: 'fetch', user: false },
    { kind: 'fetch', user: true },
  ],
};
/** An access made by the program itself: user iff cpl = 3 (§3.5). */
export const programAccess = (s: CpuState, kind: AccessKind): Access => ACCESS[kind][s.cpl === 3 ? 1 : 0];
/** Event delivery's implicit accesses (IDT, TSS, pushes) are supervisor (§3.5). */
export const supervisorAccess = (kind: AccessKind): Access => ACCESS[kind][0];

/**
 * popf's rule (§3.4), shared by iret: CF ZF SF OF always; IF only if cpl ≤ IOPL; IOPL only
 * at cpl 0. No fault when a bit cannot change — the trap-and-emulate breaker.
 */
export function popfEflags(old: number, v: number, cpl: number): number {
  let mask = STATUS_FLAGS;
  if (cpl <= (old & IOPL_MASK) >>> 12) mask |= IF;
  if (cpl === 0) mask |= IOPL_MASK;
  return canonicalEflags((old & ~mask) | (v & mask));
}

const CR0_VALID = CR0_PE | CR0_WP | CR0_PG;

export function execute(h: Hart, insn: Insn): ExecResult {
  const { s, mem } = h;
  const r = s.regs;
  const { a, b, imm } = insn;
  const next = (s.eip + 8) >>> 0;
  /** §3.3: m = (NOBASE ? 0 : reg[b]) + imm (mod 2^32). */
  const ea = ((insn.nobase ? 0 : r[b]!) + imm) >>> 0;
  const read = programAccess(s, 'read');
  const write = programAccess(s, 'write');
  /** §3.4: cli, sti, in, out. */
  const ioPrivileged = s.cpl > iopl(s);
  /** §3.4: hlt, mov crN, lidt, ltr, invlpg — checked after decode, before any operand access. */
  const ring0Only = s.cpl > 0;
  let target = next;

  const k = insn.info.kind;
  switch (k.k) {
    case 'nop':
      break;
    case 'hlt':
      if (ring0Only) return gp(0);
      s.halted = true; // hlt retires, then the CPU halts (§3.7)
      break;
    case 'ud2':
      return ud();

    // ---- data movement -------------------------------------------------------------
    case 'mov':
      r[a] = r[b]!;
      break;
    case 'movi':
      r[a] = imm;
      break;
    case 'load': {
      const v = readData(mem, s, ea, 4, read);
      if (isFault(v)) return v;
      r[a] = v;
      break;
    }
    case 'store': {
      const f = writeData(mem, s, ea, 4, r[a]!, write);
      if (f) return f;
      break;
    }
    case 'loadb': {
      const v = readData(mem, s, ea, 1, read);
      if (isFault(v)) return v;
      r[a] = v;
      break;
    }
    case 'storeb': {
      const f = writeData(mem, s, ea, 1, r[a]! & 0xff, write);
      if (f) return f;
      break;
    }
    case 'lea':
      r[a] = ea; // no memory access
      break;

    // ---- arithmetic ----------------------------------------------------------------
    case 'alu':
    case 'alui': {
      const res = alu(k.op, r[a]!, k.k === 'alu' ? r[b]! : imm, s.eflags);
      r[a] = res.value;
      s.eflags = res.eflags;
      break;
    }
    case 'shift': {
      const res = shift(k.op, r[a]!, imm, s.eflags);
      r[a] = res.value;
      s.eflags = res.eflags;
      break;
    }
    case 'unary': {
      if (k.op === 'not') {
        r[a] = ~r[a]!; // no flags
        break;
      }
      const res = k.op === 'neg' ? neg(r[a]!, s.eflags) : incDec(k.op === 'dec', r[a]!, s.eflags);
      r[a] = res.value;
      s.eflags = res.eflags;
      break;
    }

    // ---- control transfer (absolute targets, §3.3) ---------------------------------
    case 'jmp':
      target = imm;
      break;
    case 'jmpr':
      target = r[a]!;
      break;
    case 'jcc':
      if (condition(k.cond, s.eflags)) target = imm;
      break;
    case 'call': {
      const f = push(h, next);
      if (f) return f;
      target = imm;
      break;
    }
    case 'callr': {
      const dest = r[a]!; // read before the push: `call esp` jumps to the old esp
      const f = push(h, next);
      if (f) return f;
      target = dest;
      break;
    }
    case 'ret': {
      const v = pop(h);
      if (isFault(v)) return v;
      target = v;
      break;
    }

    // ---- stack ---------------------------------------------------------------------
    case 'push': {
      const f = push(h, r[a]!); // `push esp` pushes the old value (§3.4)
      if (f) return f;
      break;
    }
    case 'pushi': {
      const f = push(h, imm);
      if (f) return f;
      break;
    }
    case 'pop': {
      const v = pop(h);
      if (isFault(v)) return v;
      r[a] = v; // after esp += 4, so `pop esp` loads the popped value
      break;
    }
    case 'pushf': {
      // Not privileged, and at cpl 3 it shows the real IF and IOPL: behaviour-sensitive.
      const f = push(h, s.eflags);
      if (f) return f;
      break;
    }
    case 'popf': {
      const v = pop(h);
      if (isFault(v)) return v;
      s.eflags = popfEflags(s.eflags, v, s.cpl);
      break;
    }

    // ---- interrupt flag and I/O (§3.4: #GP(0) if cpl > IOPL) ------------------------
    case 'cli':
      if (ioPrivileged) return gp(0);
      s.eflags &= ~IF;
      break;
    case 'sti':
      if (ioPrivileged) return gp(0);
      if (!(s.eflags & IF)) s.stiShadow = true; // §3.10.6: only a 0 → 1 change
      s.eflags |= IF;
      break;
    case 'in':
      if (ioPrivileged) return gp(0);
      r[a] = imm === CONSOLE_PORT ? CONSOLE_PORT : 0xffffffff;
      break;
    case 'out':
      if (ioPrivileged) return gp(0);
      if (imm === CONSOLE_PORT) h.console.push(r[a]! & 0xff);
      break;

    // ---- interrupts ----------------------------------------------------------------
    case 'int':
      return new SoftwareInterrupt(imm);
    case 'iret':
      return iret(h, read);

    // ---- system (privileged unless noted) ------------------------------------------
    case 'movtocr': {
      if (ring0Only) return gp(0);
      const v = r[a]!;
      switch (b) {
        case 0:
          if (!(v & CR0_PE) || v & ~CR0_VALID) return gp(0);
          s.cr0 = v >>> 0;
          break;
        case 2:
          s.cr2 = v;
          break;
        case 3:
          s.cr3 = (v & 0xfffff000) >>> 0;
          break;
        case 4:
          if (v & ~CR4_PSE) return gp(0);
          s.cr4 = v;
          break;
        default:
          throw new Error(`cr${b} does not decode (DESIGN §3.3)`);
      }
      break;
    }
    case 'movfromcr': {
      if (ring0Only) return gp(0);
      r[a] = [s.cr0, 0, s.cr2, s.cr3, s.cr4][b]!;
      break;
    }
    case 'lidt': {
      if (ring0Only) return gp(0);
      const bytes = new Uint8Array(6); // limit u16, then base u32 (§3.4)
      const f = readBytes(mem, s, ea, bytes, read);
      if (f) return f;
      s.idtr = {
        limit: bytes[0]! | (bytes[1]! << 8),
        base: (bytes[2]! | (bytes[3]! << 8) | (bytes[4]! << 16) | (bytes[5]! << 24)) >>> 0,
      };
      break;
    }
    case 'sidt': {
      // Not privileged: a guest at any ring sees where the real IDT is (behaviour-sensitive).
      const { base, limit } = s.idtr;
      const bytes = Uint8Array.of(limit, limit >>> 8, base, base >>> 8, base >>> 16, base >>> 24);
      const f = writeBytes(mem, s, ea, bytes, write);
      if (f) return f;
      break;
    }
    case 'ltr':
      if (ring0Only) return gp(0);
      s.tr = r[a]!;
      break;
    case 'str':
      r[a] = s.tr; // not privileged
      break;
    case 'invlpg':
      if (ring0Only) return gp(0);
      break; // no TLB in VX32's semantics (§3.6): nothing to do
    case 'movcs':
      r[a] = codeSelector(s.cpl); // not privileged: reveals the ring
      break;
    default:
      return assertNever(k);
  }
  s.eip = target >>> 0;
  return undefined;
}

/** §3.4: push v writes at esp − 4, then esp −= 4 (so nothing changes if the write faults). */
function push(h: Hart, v: number): Fault | undefined {
  const r = h.s.regs;
  const f = writeData(h.mem, h.s, (r[ESP]! - 4) >>> 0, 4, v, programAccess(h.s, 'write'));
  if (f) return f;
  r[ESP] = r[ESP]! - 4;
  return undefined;
}

/** §3.4: pop reads at esp, then esp += 4. */
function pop(h: Hart): number | Fault {
  const v = readData(h.mem, h.s, h.s.regs[ESP]!, 4, programAccess(h.s, 'read'));
  if (!isFault(v)) h.s.regs[ESP] = h.s.regs[ESP]! + 4;
  return v;
}

/**
 * `iret` (§3.4, §3.10.11): pop eip, CS, eflags — any fault leaves no change; check CS;
 * to an outer ring also pop esp and SS and check SS; then apply eflags with popf's rules
 * at the old cpl, and only then change cpl.
 */
function iret(h: Hart, read: Access): ExecResult {
  const { s, mem } = h;
  const sp = s.regs[ESP]!;
  const words: number[] = [];
  const popAt = (i: number): Fault | undefined => {
    const v = readData(mem, s, (sp + 4 * i) >>> 0, 4, read);
    if (isFault(v)) return v;
    words.push(v);
    return undefined;
  };
  for (let i = 0; i < 3; i++) {
    const f = popAt(i);
    if (f) return f;
  }
  const [eip, csWord, eflags] = words as [number, number, number];
  const cs = csWord & 0xffff; // §3.10.11: selectors are the low 16 bits
  const rpl = cs & 3;
  if (rpl < s.cpl || cs !== codeSelector(rpl)) return gp(cs & 0xfffc);
  let esp = (sp + 12) >>> 0;
  if (rpl > s.cpl) {
    for (let i = 3; i < 5; i++) {
      const f = popAt(i);
      if (f) return f;
    }
    const ss = words[4]! & 0xffff;
    if (ss !== stackSelector(rpl)) return gp(ss & 0xfffc);
    esp = words[3]!;
  }
  s.eflags = popfEflags(s.eflags, eflags, s.cpl);
  s.cpl = rpl;
  s.regs[ESP] = esp;
  s.eip = eip >>> 0;
  return undefined;
}
