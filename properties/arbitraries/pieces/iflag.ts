// Interrupt-flag pieces (DESIGN §3.4, §3.7, §3.10.6): the places where a timer interrupt
// may or may not be delivered — `sti; hlt` idling, a cli…sti window, the STI shadow
// (an `sti` that turns IF on blocks delivery for exactly one more instruction, even if
// an interrupt is already pending), and popf rewriting IF and IOPL at ring 0. The event
// schedule anchors irqs inside these pieces (events.ts).

import fc from 'fast-check';
import { hex, ins, label, type Ctx, type Emit } from './common.ts';

const IF = 0x200;
const IOPL = 0x3000;

export interface IflagPiece {
  kind: 'iflag';
  shape:
    | { s: 'sti-hlt' }
    | { s: 'cli-window'; length: number }
    /** cli, work, sti, then one instruction inside the shadow. */
    | { s: 'sti-shadow'; before: number; shadowed: 'mov' | 'store' | 'cli' | 'hlt' | 'popf' }
    /** The x86 idiom: pushf; pop; clear or set IF in the image; push; popf. */
    | { s: 'popf-if'; set: boolean }
    /** popf of an arbitrary image: IF, IOPL, status flags and bits that do not exist. */
    | { s: 'popf-image'; image: number };
}

const imageArb = fc
  .tuple(
    fc.boolean(),
    fc.integer({ min: 0, max: 3 }),
    fc.constantFrom(0, 0x1, 0x40, 0x80, 0x800, 0x8c1),
    fc.constantFrom(0, 0xffff0000, 0x4),
  )
  .map(([iff, iopl, status, junk]) => ((iff ? IF : 0) | (iopl << 12) | status | junk) >>> 0);

export const iflagArb: fc.Arbitrary<IflagPiece> = fc.record({
  kind: fc.constant('iflag' as const),
  shape: fc.oneof(
    { weight: 3, arbitrary: fc.constant({ s: 'sti-hlt' as const }) },
    { weight: 2, arbitrary: fc.record({ s: fc.constant('cli-window' as const), length: fc.integer({ min: 1, max: 6 }) }) },
    {
      weight: 6,
      arbitrary: fc.record({
        s: fc.constant('sti-shadow' as const),
        before: fc.integer({ min: 0, max: 3 }),
        shadowed: fc.constantFrom('mov' as const, 'store' as const, 'cli' as const, 'hlt' as const, 'popf' as const),
      }),
    },
    { weight: 2, arbitrary: fc.record({ s: fc.constant('popf-if' as const), set: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ s: fc.constant('popf-image' as const), image: imageArb }) },
  ),
});

export function renderIflag(p: IflagPiece, { id }: Ctx): Emit {
  const sh = p.shape;
  switch (sh.s) {
    case 'sti-hlt':
      return {
        title: 'sti; hlt — idle until an interrupt (the shadow covers the hlt)',
        lines: [label(`${id}_sti`), ins('sti'), label(`${id}_hlt`), ins('hlt')],
      };
    case 'cli-window': {
      const work = Array.from({ length: sh.length }, (_, i) => ins(`mov eax, ${i + 1}`));
      return { title: `cli, ${sh.length} instructions, sti`, lines: [ins('cli'), ...work, label(`${id}_sti`), ins('sti'), ins('nop')] };
    }
    case 'sti-shadow': {
      const work = Array.from({ length: sh.before }, (_, i) => ins(`mov ebx, ${i + 1}`));
      const shadowed = {
        mov: [ins('mov eax, 0x5AD0', 'in the STI shadow: no interrupt before it')],
        store: [ins('mov [DATA0 + 0x40], eax', 'in the STI shadow')],
        cli: [ins('cli', 'in the STI shadow: a pending irq is never delivered here')],
        hlt: [label(`${id}_hlt`), ins('hlt', 'in the STI shadow')],
        popf: [ins('push 0x2'), ins('popf', 'clears IF again (the push is the shadowed one)')],
      }[sh.shadowed];
      return {
        title: `STI shadow over ${sh.shadowed}`,
        lines: [ins('cli'), ...work, label(`${id}_sti`), ins('sti'), ...shadowed, ins('nop')],
      };
    }
    case 'popf-if':
      return {
        title: `popf ${sh.set ? 'sets' : 'clears'} IF at ring 0`,
        lines: [
          ins('pushf'),
          ins('pop eax'),
          ins(sh.set ? `or eax, ${hex(IF)}` : `and eax, ${hex(~IF >>> 0)}`),
          ins('push eax'),
          ins('popf'),
        ],
      };
    case 'popf-image':
      return {
        title: `popf ${hex(sh.image)} at ring 0 (IF ${sh.image & IF ? 1 : 0}, IOPL ${(sh.image & IOPL) >>> 12})`,
        lines: [ins(`push ${hex(sh.image)}`), ins('popf')],
      };
  }
}
