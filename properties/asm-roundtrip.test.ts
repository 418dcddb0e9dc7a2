// Assembler/decoder round trips (DESIGN §7; DESIGN §3.9: "assemble(disassemble(x))
// reproduces the bytes"). Valid encodings are built from the OPCODES table and formUses,
// so a new opcode is covered without touching this file.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assemble } from '../spec/asm/assemble.ts';
import { disassemble, disassembleInsn } from '../spec/asm/disassemble.ts';
import { decode, encode, formUses, INSN_BYTES, OPCODES, type OpInfo } from '../spec/isa.ts';

const DEFINED: readonly OpInfo[] = OPCODES.filter((info): info is OpInfo => info !== undefined);
const VALID_CRS = [0, 2, 3, 4];

/** An immediate in [0, max], with the edges (0, max, sign boundary) often. */
function immArb(max: number): fc.Arbitrary<number> {
  const edges = [0, 1, max - 1, max, 0x7fffffff, 0x80000000, 0xfffffff8].filter((v) => v >= 0 && v <= max);
  return fc.oneof(fc.integer({ min: 0, max }), fc.constantFrom(...edges));
}

/** Every field in range for its form (DESIGN §3.3, §3.10.10): what `decode` must accept. */
const validInsnArb: fc.Arbitrary<Uint8Array> = fc.constantFrom(...DEFINED).chain((info) => {
  const uses = formUses(info.form);
  const isCr = info.form === 'tocr' || info.form === 'fromcr';
  return fc
    .record({
      a: uses.a ? fc.integer({ min: 0, max: 7 }) : fc.constant(0),
      b: isCr ? fc.constantFrom(...VALID_CRS) : uses.b ? fc.integer({ min: 0, max: 7 }) : fc.constant(0),
      nobase: uses.mem ? fc.boolean() : fc.constant(false),
      imm: uses.imm ? immArb(uses.immMax) : fc.constant(0),
    })
    .map(({ a, b, nobase, imm }) => encode(info.opcode, a, nobase ? 0 : b, nobase, imm));
});

/** A valid encoding with one byte replaced or one bit flipped: mostly #UD, sometimes still valid. */
const nearValidArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(validInsnArb, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })).map(([bytes, i, v]) => {
    const out = Uint8Array.from(bytes);
    out[i] = v;
    return out;
  }),
  fc.tuple(validInsnArb, fc.integer({ min: 0, max: 63 })).map(([bytes, bit]) => {
    const out = Uint8Array.from(bytes);
    out[bit >> 3]! ^= 1 << (bit & 7);
    return out;
  }),
);

const anyEightArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: nearValidArb },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: INSN_BYTES, maxLength: INSN_BYTES }) },
);

/** What an assembled source loads: one chunk's bytes (or none). */
function loaded(src: string): { addr: number; bytes: number[] }[] {
  return assemble(src).image.chunks.map((c) => ({ addr: c.addr, bytes: [...c.bytes] }));
}

test('valid encodings: decode accepts them, they print as instructions, and reassemble to themselves', () => {
  fc.assert(
    fc.property(validInsnArb, (bytes) => {
      expect(decode(bytes)).not.toBeNull();
      const text = disassembleInsn(bytes);
      expect(text.startsWith('.db')).toBe(false);
      expect(loaded(text)).toEqual([{ addr: 0, bytes: [...bytes] }]);
    }),
    { seed: 0x7a32, numRuns: 3000 },
  );
});

test('any 8 bytes (biased to near-valid): disassembly never throws and reassembles to the same bytes', () => {
  let valid = 0;
  let invalid = 0;
  fc.assert(
    fc.property(anyEightArb, (bytes) => {
      const ok = decode(bytes) !== null;
      if (ok) valid++;
      else invalid++;
      const text = disassembleInsn(bytes);
      // #UD encodings, and only those, become data (DESIGN §3.3).
      expect(text.startsWith('.db')).toBe(!ok);
      expect(loaded(text)).toEqual([{ addr: 0, bytes: [...bytes] }]);
    }),
    { seed: 0xb4d, numRuns: 4000 },
  );
  // The generator reaches both sides of decode often.
  expect(valid).toBeGreaterThan(400);
  expect(invalid).toBeGreaterThan(400);
});

test('whole listings: disassemble then assemble reproduces the bytes at the origin', () => {
  const listingArb = fc.record({
    insns: fc.array(fc.oneof(validInsnArb, anyEightArb), { maxLength: 40 }),
    tail: fc.uint8Array({ maxLength: INSN_BYTES - 1 }),
    origin: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0x1000, 0xfffffff8)),
  });
  fc.assert(
    fc.property(listingArb, ({ insns, tail, origin }) => {
      const bytes = Uint8Array.from([...insns.flatMap((b) => [...b]), ...tail]);
      const at = Math.min(origin, 2 ** 32 - bytes.length);
      const expected = bytes.length === 0 ? [] : [{ addr: at, bytes: [...bytes] }];
      expect(loaded(disassemble(bytes, at))).toEqual(expected);
    }),
    { seed: 0x115, numRuns: 300 },
  );
});
