// Device pieces (DESIGN §3.2, §3.4): the MMIO device at 0xFEE00000 — ID, COUNTER (a read
// returns it and increments it), LOG, an offset that reads 0, and accesses that are not
// aligned 4-byte ones, which are open bus — and the console port 0xE9 next to a port with
// nothing behind it. Under a VMM each MMIO access must be emulated exactly once (§6.9).

import fc from 'fast-check';
import { hex, ins, valueArb, type Ctx, type Emit } from './common.ts';

export interface MmioPiece {
  kind: 'mmio';
  offset: 0x0 | 0x4 | 0x8 | 0x10;
  access: 'load' | 'store' | 'load-byte' | 'store-byte' | 'unaligned';
  value: number;
}

export interface PortPiece {
  kind: 'port';
  port: number;
  out: boolean;
  value: number;
}

export const mmioArb: fc.Arbitrary<MmioPiece> = fc.record({
  kind: fc.constant('mmio' as const),
  offset: fc.constantFrom<0x0 | 0x4 | 0x8 | 0x10>(0x4, 0x8, 0x0, 0x10),
  access: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('load' as const, 'store' as const) },
    { weight: 1, arbitrary: fc.constantFrom('load-byte' as const, 'store-byte' as const, 'unaligned' as const) },
  ),
  value: valueArb,
});

export const portArb: fc.Arbitrary<PortPiece> = fc.record({
  kind: fc.constant('port' as const),
  port: fc.constantFrom(0xe9, 0xe9, 0x60),
  out: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  value: fc.integer({ min: 0x20, max: 0x7e }),
});

const NAMES: Record<MmioPiece['offset'], string> = { 0x0: 'ID', 0x4: 'COUNTER', 0x8: 'LOG', 0x10: 'an unused offset' };

export function renderMmio(p: MmioPiece, _ctx: Ctx): Emit {
  const at = `MMIO + ${hex(p.offset)}`;
  const lines = {
    load: [ins(`mov eax, [${at}]`)],
    store: [ins(`mov eax, ${hex(p.value)}`), ins(`mov [${at}], eax`)],
    'load-byte': [ins(`movzx eax, byte [${at}]`, 'not a 4-byte access: open bus')],
    'store-byte': [ins(`mov eax, ${hex(p.value)}`), ins(`mov byte [${at}], al`, 'open bus: dropped')],
    unaligned: [ins(`mov eax, [${at} + 2]`, 'unaligned: open bus')],
  }[p.access];
  return { title: `MMIO ${p.access} of ${NAMES[p.offset]}`, lines };
}

export function renderPort(p: PortPiece, _ctx: Ctx): Emit {
  return p.out
    ? {
        title: `out ${hex(p.port)}`,
        lines: [ins(`mov eax, ${hex(p.value)}`, `'${String.fromCharCode(p.value)}'`), ins(`out ${hex(p.port)}, eax`)],
      }
    : { title: `in ${hex(p.port)}`, lines: [ins(`in eax, ${hex(p.port)}`)] };
}
