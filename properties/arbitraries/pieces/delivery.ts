// Faults during event delivery (DESIGN §3.7, §3.10.3–4): a gate that is not present, of
// a bad type or with a bad selector; an IDT limit too small; the gate of an exception
// broken while that exception is raised (benign → the new fault is delivered;
// contributory or #PF → #DF); and, rarely, the fatal cases — the #DF gate broken too, or a
// handler stack (TSS ESP0) that is unmapped when coming from ring 3 — which end in a
// triple fault. Each piece restores what it broke, so the run goes on after it.

import fc from 'fast-check';
import { TSS, V_DF, V_GP, V_NP, V_PF, V_UD } from '../layout.ts';
import { gateOf } from '../idt.ts';
import { hex, ins, label, type Ctx, type Emit } from './common.ts';

export type Breakage = 'not-present' | 'bad-type' | 'bad-selector';

export interface DeliveryPiece {
  kind: 'delivery';
  fault:
    /** Break the gate of v, then `int v` or wait for an irq on it. */
    | { f: 'gate'; vector: number; breakage: Breakage; trigger: 'int' | 'wait' }
    /** Break the gate of an exception and raise it. */
    | { f: 'nested'; vector: typeof V_UD | typeof V_GP | typeof V_PF | typeof V_NP; breakage: Breakage }
    /** `lidt` a table of 32 gates, then reach past it. */
    | { f: 'idt-limit'; vector: number }
    | { f: 'fatal'; how: 'df-gate' | 'esp0-unmapped' };
}

/** Vectors an `int` at ring 0 may break: interrupt vectors the schedule also uses. */
export const BREAKABLE_VECTORS = [0x20, 0x21, 0x40, 0x81, 0xff] as const;

const breakageArb = fc.constantFrom<Breakage>('not-present', 'bad-type', 'bad-selector');

export const deliveryArb: fc.Arbitrary<DeliveryPiece> = fc.record({
  kind: fc.constant('delivery' as const),
  fault: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        f: fc.constant('gate' as const),
        vector: fc.constantFrom(...BREAKABLE_VECTORS),
        breakage: breakageArb,
        trigger: fc.constantFrom('int' as const, 'wait' as const),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        f: fc.constant('nested' as const),
        vector: fc.constantFrom<typeof V_UD | typeof V_GP | typeof V_PF | typeof V_NP>(V_UD, V_GP, V_PF, V_NP),
        breakage: breakageArb,
      }),
    },
    { weight: 2, arbitrary: fc.record({ f: fc.constant('idt-limit' as const), vector: fc.constantFrom(...BREAKABLE_VECTORS) }) },
    {
      weight: 1,
      arbitrary: fc.record({ f: fc.constant('fatal' as const), how: fc.constantFrom('df-gate' as const, 'esp0-unmapped' as const) }),
    },
  ),
});

/** Lines that break gate v (DESIGN §3.10.3 order: type, then P, then selector). */
function breakGate(v: number, b: Breakage, attr: number): string[] {
  switch (b) {
    case 'not-present':
      return [ins(`mov eax, ${hex(attr & 0x7f)}`), ins(`mov byte [IDT + 8 * ${hex(v)} + 5], al`, `gate ${hex(v)} not present`)];
    case 'bad-type':
      return [
        ins(`mov eax, ${hex((attr & 0xe0) | 0x0c)}`),
        ins(`mov byte [IDT + 8 * ${hex(v)} + 5], al`, `gate ${hex(v)}: type 0xC is no interrupt or trap gate`),
      ];
    case 'bad-selector':
      return [ins('mov eax, 0x10'), ins(`mov byte [IDT + 8 * ${hex(v)} + 2], al`, `gate ${hex(v)}: selector 0x10, not 0x08`)];
  }
}

function restoreGate(v: number, b: Breakage, attr: number): string[] {
  return b === 'bad-selector'
    ? [ins('mov eax, 0x08'), ins(`mov byte [IDT + 8 * ${hex(v)} + 2], al`, 'restore the gate')]
    : [ins(`mov eax, ${hex(attr)}`), ins(`mov byte [IDT + 8 * ${hex(v)} + 5], al`, 'restore the gate')];
}

/** An instruction that raises the exception `v` at ring 0. */
function raise(v: number): string[] {
  switch (v) {
    case V_UD:
      return [ins('ud2')];
    case V_GP:
      return [ins('mov eax, 0'), ins('mov cr0, eax', '#GP(0): PE = 0')];
    case V_PF:
      return [ins('mov eax, [PLAY + 0x8000]', '#PF: playground entry 8 is never present (with paging on)')];
    default:
      return [ins('int 0x21'), ins('nop')]; // #NP needs a gate that is not present: see renderDelivery
  }
}

export function renderDelivery(p: DeliveryPiece, { id, setup }: Ctx): Emit {
  const f = p.fault;
  switch (f.f) {
    case 'gate': {
      const attr = gateOf(f.vector, setup).attr;
      const trigger =
        f.trigger === 'int'
          ? [ins(`int ${hex(f.vector)}`)]
          : [ins('nop', 'an irq on this vector now faults in delivery'), ins('nop'), ins('nop')];
      return {
        title: `gate ${hex(f.vector)} ${f.breakage}, then ${f.trigger === 'int' ? 'int' : 'wait for an irq'}`,
        lines: [...breakGate(f.vector, f.breakage, attr), ...trigger, ...restoreGate(f.vector, f.breakage, attr)],
      };
    }
    case 'nested': {
      const attr = gateOf(f.vector, setup).attr;
      // #NP is raised by a gate that is not present: break 0x21 as well, so the #NP's own
      // broken gate turns contributory + contributory into #DF.
      const extra = f.vector === V_NP ? breakGate(0x21, 'not-present', gateOf(0x21, setup).attr) : [];
      const restoreExtra = f.vector === V_NP ? restoreGate(0x21, 'not-present', gateOf(0x21, setup).attr) : [];
      return {
        title: `gate of exception ${f.vector} ${f.breakage}, then raise it`,
        lines: [
          ...breakGate(f.vector, f.breakage, attr),
          ...extra,
          ...raise(f.vector),
          ...restoreExtra,
          ...restoreGate(f.vector, f.breakage, attr),
        ],
      };
    }
    case 'idt-limit':
      return {
        title: `IDT limit below gate ${hex(f.vector)}`,
        lines: [
          ins('lidt [idt_small]', '32 gates only'),
          ins(`int ${hex(f.vector)}`, '#GP(8n+2): beyond the limit'),
          ins('lidt [idt_desc]'),
        ],
      };
    case 'fatal':
      if (f.how === 'df-gate') {
        return {
          title: 'gates of #GP and #DF not present, then #GP: triple fault',
          lines: [
            ...breakGate(V_GP, 'not-present', gateOf(V_GP, setup).attr),
            ...breakGate(V_DF, 'not-present', gateOf(V_DF, setup).attr),
            ...raise(V_GP),
          ],
        };
      }
      return {
        title: 'ESP0 unmapped, then an int from ring 3: #PF while pushing, #DF, triple fault',
        lines: [
          ins('mov eax, PLAY + 0x9000'),
          ins(`mov [${hex(TSS)} + 4], eax`, 'ESP0 on a page that is never mapped'),
          ins('push USER_SS3'),
          ins('push USTACK_TOP'),
          ins('push 0x2'),
          ins('push USER_CS3'),
          ins(`push ${id}_ring3`),
          ins('iret'),
          label(`${id}_ring3`),
          ins('int 0x81'),
          ins('mov eax, KSTACK_TOP', 'only reached with paging off'),
          ins(`mov [${hex(TSS)} + 4], eax`),
        ],
      };
  }
}
