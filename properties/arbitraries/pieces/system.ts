// System pieces at ring 0: the sensitive but unprivileged instructions (DESIGN §3.3
// table: sidt, str, `mov a, cs`, pushf — they tell a deprivileged kernel where it really
// runs, which is why classic trap-and-emulate fails, §5), lidt/ltr round trips, software
// interrupts through ordinary gates, and encodings that decode to #UD (§3.3, §3.10.10).

import fc from 'fast-check';
import { FAULT_VECTORS, V_RETURN } from '../layout.ts';
import { ins, regArb, type Ctx, type Emit, type Reg } from './common.ts';

export interface SensitivePiece {
  kind: 'sensitive';
  what: 'sidt' | 'str' | 'movcs' | 'pushf' | 'sidt-lidt' | 'str-ltr';
  reg: Reg;
}

export interface SoftIntPiece {
  kind: 'int';
  vector: number;
}

/** Encodings `decode` rejects (§3.3), named after the rule they break; written as `.dd`. */
export const INVALID = {
  'opcode 00': [0x00000000, 0],
  'opcode 5A (no such jcc)': [0x0000005a, 0x100],
  'A bits 3-7 set': [0x00000810, 0],
  'byte 3 not zero': [0x01000001, 0],
  'unused imm not zero': [0x00000001, 5],
  'int 256': [0x00000064, 0x100],
  'shift count 32': [0x00000030, 32],
  cr5: [0x00050070, 0],
  'NOBASE on a register op': [0x00080010, 0],
  'NOBASE with b != 0': [0x00090012, 0x11000],
  'opcode FF': [0x000000ff, 0xffffffff],
} as const satisfies Record<string, readonly [number, number]>;
export type InvalidName = keyof typeof INVALID;

export interface InvalidPiece {
  kind: 'invalid';
  name: InvalidName;
}

export const sensitiveArb: fc.Arbitrary<SensitivePiece> = fc.record({
  kind: fc.constant('sensitive' as const),
  what: fc.constantFrom('sidt' as const, 'str' as const, 'movcs' as const, 'pushf' as const, 'sidt-lidt' as const, 'str-ltr' as const),
  reg: regArb,
});

export const softIntArb: fc.Arbitrary<SoftIntPiece> = fc.record({
  kind: fc.constant('int' as const),
  vector: fc
    .oneof(fc.constantFrom(0x20, 0x81, 0x21, 0x3), fc.integer({ min: 0, max: 255 }))
    .filter((v) => v !== V_RETURN && !FAULT_VECTORS.includes(v)),
});

export const invalidArb: fc.Arbitrary<InvalidPiece> = fc.record({
  kind: fc.constant('invalid' as const),
  name: fc.constantFrom(...(Object.keys(INVALID) as InvalidName[])),
});

export function renderSensitive(p: SensitivePiece, _ctx: Ctx): Emit {
  const r = p.reg;
  const lines = {
    sidt: [ins('sidt [DATA0 + 0x200]', 'unprivileged: the real IDT base and limit')],
    str: [ins(`str ${r}`, 'unprivileged: the real TR')],
    movcs: [ins(`mov ${r}, cs`, 'unprivileged: the real ring')],
    pushf: [ins('pushf', 'unprivileged: the real IF and IOPL'), ins(`pop ${r}`)],
    'sidt-lidt': [ins('sidt [DATA0 + 0x200]'), ins('lidt [DATA0 + 0x200]', 'reload what sidt stored')],
    'str-ltr': [ins(`str ${r}`), ins(`ltr ${r}`)],
  }[p.what];
  return { title: `sensitive, unprivileged: ${p.what}`, lines };
}

export function renderSoftInt(p: SoftIntPiece, _ctx: Ctx): Emit {
  return { title: `int ${p.vector} at ring 0`, lines: [ins(`int ${p.vector}`)] };
}

export function renderInvalid(p: InvalidPiece, _ctx: Ctx): Emit {
  const [lo, hi] = INVALID[p.name];
  return {
    title: `#UD: ${p.name}`,
    lines: [
      ins(`.dd 0x${lo.toString(16).padStart(8, '0')}, 0x${hi.toString(16).padStart(8, '0')}`, `#UD (${p.name}); the handler skips it`),
    ],
  };
}
