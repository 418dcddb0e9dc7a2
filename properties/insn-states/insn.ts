// The instruction under test: its fields (plain data, so fast-check shrinks each one),
// how they are drawn, where the instruction sits, and its 8 bytes `op A B 0 imm32`
// (DESIGN §3.3): valid, one field wrong, or random bytes.

import fc from 'fast-check';
import { V_DF, V_GP, V_NP, V_PF, V_UD } from '../arbitraries/layout.ts';
import { OPS, UNDEFINED_OPCODES, flawsOf, usesOf, type Op } from './encoding.ts';
import { INSN_ADDR, type InsnAt } from './layout.ts';
import { addrArb, crValueArb, pick, targetArb, u32, valueArb } from './pools.ts';

export interface InsnSpec {
  enc: 'valid' | 'near' | 'random';
  op: Op;
  a: number;
  b: number;
  /** The immediate of each form (only the one the form uses is read). */
  value: number;
  count: number;
  target: number;
  vector: number;
  port: number;
  cr: number;
  mem: { nobase: false; b: number; off: number } | { nobase: true; addr: number };
  /** For `mov crN, a`: what the prologue loads into register a (`jmp a`, `call a` load `target`). */
  aValue: number;
  /** Which of the flaws that apply to the form (`flawsOf`) a near-valid encoding has. */
  flaw: number;
  junk: number;
  raw: [number, number];
}

export const insnArb: fc.Arbitrary<InsnSpec> = fc.record({
  enc: fc.oneof(
    { weight: 16, arbitrary: fc.constant('valid' as const) },
    { weight: 8, arbitrary: fc.constant('near' as const) },
    { weight: 1, arbitrary: fc.constant('random' as const) },
  ),
  op: fc.oneof(...OPS.map((o) => ({ weight: o.weight, arbitrary: fc.constant(o) }))),
  a: fc.integer({ min: 0, max: 7 }),
  b: fc.integer({ min: 0, max: 7 }),
  value: valueArb,
  count: fc.oneof(pick(1, 1, 0, 2, 31, 16), fc.integer({ min: 0, max: 31 })), // OF differs at 1 (DESIGN §3.4)
  target: targetArb,
  vector: fc.oneof(pick(V_UD, V_DF, V_NP, V_GP, V_PF, 0x20, 0x80, 3, 0, 255), fc.integer({ min: 0, max: 255 })),
  port: fc.oneof(pick(0xe9, 0x60, 0, 0xffff, 0xe8, 0xea), fc.integer({ min: 0, max: 0xffff })),
  cr: pick(0, 2, 3, 4),
  mem: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        nobase: fc.constant(false as const),
        b: fc.integer({ min: 0, max: 7 }),
        off: pick(0, 4, 0xfffffffc, 2, 0xffe, 1, 0x100),
      }),
    },
    { weight: 2, arbitrary: fc.record({ nobase: fc.constant(true as const), addr: addrArb }) },
  ),
  aValue: fc.oneof({ weight: 2, arbitrary: crValueArb }, { weight: 1, arbitrary: valueArb }),
  flaw: fc.nat({ max: 63 }),
  junk: u32,
  raw: fc.tuple(u32, u32),
});

/** What placing and encoding the instruction reads of a case. */
export interface Placed {
  state: { insnAt: InsnAt };
  insn: InsnSpec;
}

export const insnAddr = (c: Placed): number => INSN_ADDR[c.state.insnAt];

/** A drawn code address: −1 is the `hlt` after the instruction, −2 the instruction itself. */
export const resolveTarget = (c: Placed, t: number): number => (t === -1 ? insnAddr(c) + 8 : t === -2 ? insnAddr(c) : t);

export interface Encoded {
  bytes: Uint8Array;
  /** The instruction as the case meant it: valid, or which field breaks it. */
  what: string;
}

/** The 8 bytes `op A B 0 imm32` (DESIGN §3.3). */
export function encodeInsn(c: Placed): Encoded {
  const i = c.insn;
  const pack = (opcode: number, A: number, B: number, byte3: number, imm: number): Uint8Array =>
    Uint8Array.of(opcode, A, B, byte3, imm, imm >>> 8, imm >>> 16, imm >>> 24);
  if (i.enc === 'random') {
    const [w0, imm] = i.raw;
    // Half of them keep a defined opcode, so the other bytes are what breaks them.
    const opcode = w0 & 0x100 ? i.op.opcode : w0 & 0xff;
    return { bytes: pack(opcode, (w0 >>> 8) & 0xff, (w0 >>> 16) & 0xff, w0 >>> 24, imm), what: 'random bytes' };
  }
  const { form } = i.op;
  const uses = usesOf(form);
  let opcode = i.op.opcode;
  const a = uses.a ? i.a : 0;
  let b = 0;
  let nobase = false;
  let imm = 0;
  if (uses.mem) {
    if (i.mem.nobase) {
      nobase = true;
      imm = i.mem.addr;
    } else {
      b = i.mem.b;
      imm = i.mem.off;
    }
  } else if (form === 'rr') b = i.b;
  else if (form === 'tocr' || form === 'fromcr') b = i.cr;
  if (form === 'ri') imm = i.value;
  else if (form === 'rsh') imm = i.count;
  else if (form === 'i') imm = i.op.name === 'push-imm' ? i.value : resolveTarget(c, i.target);
  else if (form === 'int') imm = i.vector;
  else if (form === 'in' || form === 'out') imm = i.port;
  let A = a;
  let byte3 = 0;
  let what = 'valid';
  if (i.enc === 'near') {
    const j = i.junk >>> 0;
    const flaw = flawsOf(form)[i.flaw % flawsOf(form).length]!;
    what = `#UD: ${flaw}`;
    switch (flaw) {
      case 'A bits 3-7':
        A = a | (8 << (j % 5));
        break;
      case 'B bits 4-7':
        b |= 0x10 << (j % 4);
        break;
      case 'byte 3':
        byte3 = 1 + (j % 255);
        break;
      case 'unused a':
        A = 1 + (j % 7);
        break;
      case 'unused b':
        b = 1 + (j % 7);
        break;
      case 'NOBASE on a non-memory op':
        nobase = true;
        break;
      case 'NOBASE with b != 0':
        nobase = true;
        b = 1 + (j % 7);
        break;
      case 'unused imm':
        imm = j % 3 === 0 ? 1 : j || 1;
        break;
      // the first value out of range most often: the boundary is where mutants hide
      case 'imm out of range':
        imm = j % 2 === 0 ? uses.immMax + 1 : Math.max(uses.immMax + 1, j);
        break;
      case 'cr number':
        b = [1, 5, 6, 7][j % 4]!;
        break;
      case 'undefined opcode':
        opcode = UNDEFINED_OPCODES[j % UNDEFINED_OPCODES.length]!;
        break;
    }
  }
  return { bytes: pack(opcode, A, b | (nobase ? 8 : 0), byte3, imm >>> 0), what };
}
