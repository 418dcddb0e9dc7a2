// Instruction selection: a mnemonic and its parsed operands → one OPCODES entry → the
// 8 bytes (DESIGN §3.3). Each form's operand shape comes from the table's `form`, so a
// new opcode in isa.ts is assembled without touching this file.

import { encode, formUses, type Form, type OpInfo } from '../isa.ts';
import { fail, type Where } from './errors.ts';
import type { Expr } from './expr.ts';
import type { Operand } from './parse.ts';

/** What one operand position of a form accepts. */
type Slot = 'reg' | 'reg8' | 'imm' | 'mem' | 'bmem' | 'cr' | 'cs';

function slotsOf(info: OpInfo): readonly Slot[] {
  const form: Form = info.form;
  switch (form) {
    case 'none':
      return [];
    case 'r':
      return ['reg'];
    case 'rr':
      return ['reg', 'reg'];
    case 'ri':
    case 'rsh':
    case 'in':
      return ['reg', 'imm'];
    case 'i':
    case 'int':
      return ['imm'];
    case 'rm':
      return ['reg', info.kind.k === 'loadb' ? 'bmem' : 'mem'];
    case 'mr':
      return info.kind.k === 'storeb' ? ['bmem', 'reg8'] : ['mem', 'reg'];
    case 'm':
      return ['mem'];
    case 'out':
      return ['imm', 'reg'];
    case 'tocr':
      return ['cr', 'reg'];
    case 'fromcr':
      return ['reg', 'cr'];
    case 'cs':
      return ['reg', 'cs'];
  }
}

function accepts(slot: Slot, op: Operand): boolean {
  switch (slot) {
    case 'mem':
      return op.k === 'mem' && !op.byte;
    case 'bmem':
      return op.k === 'mem' && op.byte;
    default:
      return op.k === slot;
  }
}

const SLOT_NAMES: Record<Slot, string> = {
  reg: 'a register',
  reg8: 'a byte register (al cl dl bl spl bpl sil dil)',
  imm: 'an immediate',
  mem: 'a memory operand [m]',
  bmem: "'byte [m]'",
  cr: 'a control register',
  cs: "'cs'",
};

function describe(op: Operand): string {
  switch (op.k) {
    case 'reg':
      return `register '${op.name}'`;
    case 'reg8':
      return `byte register '${op.name}'`;
    case 'cr':
      return `'${op.name}'`;
    case 'cs':
      return "'cs'";
    case 'mem':
      return op.byte ? "'byte [m]'" : 'a memory operand';
    case 'imm':
      return 'an immediate';
  }
}

function oneOf(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

export interface SelectContext {
  where: Where;
  /** Whether a name is a label or `.equ` anywhere in the source. */
  isDefined(name: string): boolean;
  evaluate(e: Expr): number;
}

/** Which candidate the operands fit; every mismatch is reported at the operand that breaks it. */
function choose(mnemonic: string, col: number, operands: readonly Operand[], candidates: readonly OpInfo[], ctx: SelectContext): OpInfo {
  const arities = [...new Set(candidates.map((c) => slotsOf(c).length))].sort();
  let live = candidates.filter((c) => slotsOf(c).length === operands.length);
  if (live.length === 0) {
    const counts = oneOf(arities.map(String));
    const what = arities.length === 1 && arities[0] === 0 ? 'no operands' : `${counts} operand${counts === '1' ? '' : 's'}`;
    const max = arities[arities.length - 1] ?? 0;
    fail(ctx.where, operands[max]?.col ?? col, `'${mnemonic}' takes ${what}`);
  }
  operands.forEach((op, i) => {
    const next = live.filter((c) => accepts(slotsOf(c)[i]!, op));
    if (next.length === 0) {
      const expected = [...new Set(live.map((c) => slotsOf(c)[i]!))];
      // `mov exx, 1`: a name nobody defined, where only registers or memory fit, is a typo'd register.
      if (op.k === 'imm' && op.expr.k === 'sym' && !ctx.isDefined(op.expr.name) && !expected.includes('imm')) {
        fail(ctx.where, op.col, `unknown register '${op.expr.name}'`);
      }
      fail(ctx.where, op.col, `'${mnemonic}' expects ${oneOf(expected.map((s) => SLOT_NAMES[s]))} here, found ${describe(op)}`);
    }
    live = next;
  });
  return live[0]!;
}

/** DESIGN §3.3: these ranges are #UD at run time, so the assembler refuses them. */
function rangeError(form: Form, value: number): string {
  switch (form) {
    case 'rsh':
      return `shift count ${value} out of range (0..31)`;
    case 'int':
      return `interrupt vector ${value} out of range (0..255)`;
    case 'in':
    case 'out':
      return `port ${value} out of range (0..0xFFFF)`;
    default:
      return `immediate ${value} out of range`;
  }
}

/**
 * The candidate chosen for an operand list, by the list (parse.ts hands out one list per
 * distinct line, so a line repeated in many programs is chosen for once). The choice
 * depends only on the operands' kinds; a failure is never kept.
 */
const chosen = new WeakMap<readonly Operand[], OpInfo>();

export function assembleInsn(
  mnemonic: string,
  col: number,
  operands: readonly Operand[],
  candidates: readonly OpInfo[],
  ctx: SelectContext,
): Uint8Array {
  let info = chosen.get(operands);
  if (info === undefined) {
    info = choose(mnemonic, col, operands, candidates, ctx);
    chosen.set(operands, info);
  }
  const immMax = formUses(info.form).immMax;
  let a = 0;
  let b = 0;
  let nobase = false;
  let imm = 0;
  let regsSeen = 0;
  for (const op of operands) {
    switch (op.k) {
      case 'reg':
      case 'reg8':
        // The first register is field a, a second one (only `rr` has two) field b.
        if (regsSeen++ === 0) a = op.reg;
        else b = op.reg;
        break;
      case 'cr':
        b = op.cr;
        break;
      case 'cs':
        break;
      case 'mem':
        b = op.base ?? 0;
        nobase = op.base === null;
        imm = op.disp === null ? 0 : ctx.evaluate(op.disp);
        break;
      case 'imm':
        imm = ctx.evaluate(op.expr);
        if (imm > immMax) fail(ctx.where, op.col, rangeError(info.form, imm));
        break;
    }
  }
  return encode(info.opcode, a, b, nobase, imm);
}
