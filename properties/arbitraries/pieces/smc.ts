// Self-modifying code (DESIGN §7; issue 19, the `bt` engine): run an instruction, copy
// another over it, run it again. A VMM that translates guest code must see the store and
// drop its translation of the old bytes (the stale-translation bug of the catalog,
// DESIGN §8); every other engine just runs the new bytes. The pair mixes innocuous and
// sensitive instructions, so a stale translation shows as a wrong register either way.

import fc from 'fast-check';
import { ins, label, type Ctx, type Emit } from './common.ts';

const INSNS = {
  nop: 'nop',
  'mov-imm': 'mov eax, 0x5A5A',
  inc: 'inc eax',
  'mov-cs': 'mov eax, cs',
  str: 'str eax',
} as const;
type SmcInsn = keyof typeof INSNS;

export interface SmcPiece {
  kind: 'smc';
  before: SmcInsn;
  after: SmcInsn;
}

const names = Object.keys(INSNS) as SmcInsn[];

export const smcArb: fc.Arbitrary<SmcPiece> = fc
  .record({ kind: fc.constant('smc' as const), before: fc.constantFrom(...names), after: fc.constantFrom(...names) })
  .filter((p) => p.before !== p.after);

export function renderSmc(p: SmcPiece, { id }: Ctx): Emit {
  return {
    title: `self-modifying code: ${p.before}, then ${p.after} copied over it`,
    lines: [
      ins('mov ecx, 2'),
      label(`${id}_again`),
      label(`${id}_site`),
      ins(INSNS[p.before], 'first pass: as assembled; second pass: the patch'),
      ins(`mov edx, [${id}_patch]`),
      ins(`mov [${id}_site], edx`),
      ins(`mov edx, [${id}_patch + 4]`),
      ins(`mov [${id}_site + 4], edx`),
      ins('dec ecx'),
      ins(`jnz ${id}_again`),
      ins(`jmp ${id}_smc_done`),
      label(`${id}_patch`),
      ins(INSNS[p.after], 'data: the instruction copied over the site'),
      label(`${id}_smc_done`),
    ],
    // 16 steps run for 10 instruction slots: the loop body twice, the patch never.
    extraSteps: 6,
  };
}
