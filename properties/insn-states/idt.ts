// The IDT of a case (DESIGN §3.7, §3.10.3): 256 gates to the one handler, perhaps one
// broken on the vector the instruction most likely raises, perhaps a broken #DF gate, and
// an IDT limit that may stop short of the broken vector.

import { V_DF, V_GP, V_PF, V_UD, hex } from '../arbitraries/layout.ts';
import { HANDLER } from './layout.ts';
import { pagingOn } from './paging.ts';
import type { InsnCase } from './state.ts';

/** The vector whose gate the case breaks, and the one the IDT limit is measured against. */
export function brokenVector(c: InsnCase): number | null {
  const br = c.idt.broken;
  if (!br) return null;
  switch (br.which) {
    case 'ud':
      return V_UD;
    case 'gp':
      return V_GP;
    case 'pf':
      return V_PF;
    case 'likely':
      return likelyVector(c);
    case 'irq':
      return c.irq ? c.irq.vector : V_GP;
  }
}

const PRIVILEGED = ['hlt', 'mov-to-cr', 'mov-from-cr', 'lidt', 'ltr', 'invlpg'];
const IO_PRIVILEGED = ['cli', 'sti', 'in', 'out'];
const ACCESSES = [
  'load',
  'store',
  'movzx',
  'store-byte',
  'lidt',
  'sidt',
  'push',
  'push-imm',
  'pop',
  'pushf',
  'popf',
  'call',
  'call-reg',
  'ret',
];

/**
 * The vector the instruction most likely raises (DESIGN §3.3–3.4), so a broken gate is
 * met often: #UD for bad encodings, the vector of `int n`, #GP for privilege and for
 * iret, #PF for memory accesses, else the #GP of the `hlt` that follows at cpl > 0.
 */
export function likelyVector(c: InsnCase): number {
  const { insn, state } = c;
  if (insn.enc !== 'valid' || insn.op.name === 'ud2') return V_UD;
  const name = insn.op.name;
  if (name === 'int') return insn.vector;
  if (PRIVILEGED.includes(name) && state.cpl > 0) return V_GP;
  if (IO_PRIVILEGED.includes(name) && state.cpl > state.iopl) return V_GP;
  if (ACCESSES.includes(name) && pagingOn(c)) return V_PF;
  return V_GP;
}

export function idtLimit(c: InsnCase): number {
  const v = brokenVector(c) ?? V_GP;
  const l = c.idt.limit;
  return l === 'full' ? 0x7ff : l === 'fits' ? 8 * v + 7 : l === 'short' ? 8 * v + 6 : l;
}

/** A gate's two words, and what is wrong with it if anything. */
export interface GateWords {
  lo: number;
  hi: number;
  note?: string;
}

export function gateOf(c: InsnCase, v: number): GateWords {
  const { idt } = c;
  const type = idt.trap ? 0xf : 0xe;
  let attr = 0x80 | (idt.dpl << 5) | type;
  let selector = 0x08;
  let note: string | undefined;
  const br = idt.broken;
  if (br && v === brokenVector(c)) {
    switch (br.how) {
      case 'not-present':
        attr &= ~0x80;
        note = 'P = 0: #NP';
        break;
      case 'dpl':
        attr &= ~0x60;
        note = 'DPL 0: #GP for int n at cpl > 0';
        break;
      case 'type':
        attr = (attr & ~0x1f) | br.type;
        note = `type ${hex(br.type)}: #GP`;
        break;
      case 'selector':
        selector = br.selector;
        note = `selector ${hex(br.selector)}: #GP`;
        break;
    }
  }
  if (v === V_DF && idt.dfBroken) {
    attr &= ~0x80;
    note = '#DF gate not present: a fault delivering #DF shuts down';
  }
  const lo = ((HANDLER & 0xffff) | (selector << 16)) >>> 0;
  const hi = ((HANDLER & 0xffff0000) | (attr << 8) | idt.byte4) >>> 0;
  return note === undefined ? { lo, hi } : { lo, hi, note };
}
