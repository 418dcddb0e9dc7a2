// ALU pieces (DESIGN §3.4): an operation on edge values, then a conditional jump on the
// flags it produced, so every flag rule and every jcc condition is exercised and the
// outcome lands in a register. Optionally `pushf; pop` captures the whole eflags word.

import fc from 'fast-check';
import { hex, ins, label, regArb, valueArb, type Ctx, type Emit, type Reg } from './common.ts';

const BINARY = ['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test'] as const;
const SHIFT = ['shl', 'shr', 'sar'] as const;
const UNARY = ['not', 'neg', 'inc', 'dec'] as const;
/** Every condition of the encoding table, by its first name (DESIGN §3.3: 5A, 5B are #UD). */
export const JCC = ['jo', 'jno', 'jb', 'jae', 'je', 'jne', 'jbe', 'ja', 'js', 'jns', 'jl', 'jge', 'jle', 'jg'] as const;

export type AluOperation =
  | { form: 'rr'; op: (typeof BINARY)[number]; src: Reg; b: number }
  | { form: 'ri'; op: (typeof BINARY)[number]; b: number }
  | { form: 'shift'; op: (typeof SHIFT)[number]; count: number }
  | { form: 'unary'; op: (typeof UNARY)[number] };

export interface AluPiece {
  kind: 'alu';
  dst: Reg;
  a: number;
  operation: AluOperation;
  jcc: (typeof JCC)[number];
  /** Register that receives 1 if the jump was taken, else 0. */
  out: Reg;
  captureFlags: boolean;
}

/** Shift counts: 0 (no flag change), 1 (OF defined), 31, and any (§3.4). */
const countArb = fc.oneof(fc.constantFrom(1, 0, 31), fc.integer({ min: 0, max: 31 }));

const operationArb: fc.Arbitrary<AluOperation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ form: fc.constant('rr' as const), op: fc.constantFrom(...BINARY), src: regArb, b: valueArb }) },
  { weight: 2, arbitrary: fc.record({ form: fc.constant('ri' as const), op: fc.constantFrom(...BINARY), b: valueArb }) },
  { weight: 1, arbitrary: fc.record({ form: fc.constant('shift' as const), op: fc.constantFrom(...SHIFT), count: countArb }) },
  { weight: 1, arbitrary: fc.record({ form: fc.constant('unary' as const), op: fc.constantFrom(...UNARY) }) },
);

export const aluArb: fc.Arbitrary<AluPiece> = fc.record({
  kind: fc.constant('alu' as const),
  dst: regArb,
  a: valueArb,
  operation: operationArb,
  jcc: fc.constantFrom(...JCC),
  out: regArb,
  captureFlags: fc.boolean(),
});

export function renderAlu(p: AluPiece, { id }: Ctx): Emit {
  const o = p.operation;
  const lines = [ins(`mov ${p.dst}, ${hex(p.a)}`)];
  let text: string;
  switch (o.form) {
    case 'rr':
      if (o.src !== p.dst) lines.push(ins(`mov ${o.src}, ${hex(o.b)}`));
      text = `${o.op} ${p.dst}, ${o.src}`;
      break;
    case 'ri':
      text = `${o.op} ${p.dst}, ${hex(o.b)}`;
      break;
    case 'shift':
      text = `${o.op} ${p.dst}, ${o.count}`;
      break;
    case 'unary':
      text = `${o.op} ${p.dst}`;
      break;
  }
  lines.push(ins(text));
  if (p.captureFlags) lines.push(ins('pushf'), ins(`pop ${p.out}`, 'the whole eflags word'));
  lines.push(ins(`${p.jcc} ${id}_taken`), ins(`mov ${p.out}, 0`), ins(`jmp ${id}_end`), label(`${id}_taken`), ins(`mov ${p.out}, 1`));
  return { title: `alu: ${text} on ${hex(p.a)}, then ${p.jcc}`, lines };
}
