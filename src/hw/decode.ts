// Decode tables for the fixed 8-byte VX32 encoding (DESIGN §3.3), written from the
// encoding table independently of spec/isa.ts (DESIGN §1: no shared decoder).
//
// The first little-endian word of an instruction is `op | A << 8 | B << 16 | 0 << 24`;
// the second is imm32. Decoding is two table lookups: `FIELDS[op]` holds every bit of
// the first word this opcode may have set (0 for undefined opcodes, so any nonzero word
// fails), `IMM_MAX[op]` the largest unsigned imm allowed (0 when imm is unused, −1 when
// any value is fine). The remaining rules are checked where they apply: NOBASE needs
// b = 0 (DESIGN §3.10.10, one compare in cpu.ts), jcc 5A/5B and control-register numbers.

const OP = 0xff;
const REG_A = 0x7 << 8;
const REG_B = 0x7 << 16;
const NOBASE = 0x8 << 16;
const MEM = REG_B | NOBASE; // a memory operand: base register or NOBASE, plus imm

const ANY = -1;

export const FIELDS = new Int32Array(256);
export const IMM_MAX = new Int32Array(256);

function def(ops: readonly number[], fields: number, immMax: number): void {
  for (const op of ops) {
    FIELDS[op] = OP | fields;
    IMM_MAX[op] = immMax;
  }
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

def([0x01, 0x02, 0x03, 0x44, 0x60, 0x61, 0x62, 0x63, 0x65], 0, 0); // nop hlt ud2 ret pushf popf cli sti iret
def([0x10], REG_A | REG_B, 0); // mov a, b
def([0x11], REG_A, ANY); // mov a, imm
def([0x12, 0x13, 0x14, 0x15, 0x16], REG_A | MEM, ANY); // loads, stores, lea
def(range(0x20, 0x26), REG_A | REG_B, 0); // alu a, b
def(range(0x28, 0x2e), REG_A, ANY); // alu a, imm
def([0x30, 0x31, 0x32], REG_A, 31); // shifts
def([0x33, 0x34, 0x35, 0x36], REG_A, 0); // not neg inc dec
def([0x40, 0x42, 0x46], 0, ANY); // jmp imm, call imm, push imm
def([0x41, 0x43, 0x45, 0x47], REG_A, 0); // jmp a, call a, push a, pop a
def(
  range(0x50, 0x5f).filter((op) => op !== 0x5a && op !== 0x5b),
  0,
  ANY,
); // jcc
def([0x64], 0, 255); // int imm
def([0x66, 0x67], REG_A, 0xffff); // in a, imm / out imm, a
def([0x70, 0x71], REG_A | REG_B, 0); // mov crN, a / mov a, crN (N in the b field)
def([0x72, 0x73, 0x76], MEM, ANY); // lidt, sidt, invlpg
def([0x74, 0x75, 0x77], REG_A, 0); // ltr, str, mov a, cs

/** True when the B field has NOBASE set with a nonzero b (DESIGN §3.10.10). */
export function badNobase(w0: number): boolean {
  return ((w0 >>> 16) & 0xf) > 8;
}

/** Control registers that exist (DESIGN §3.3): 0, 2, 3, 4. */
export function isCr(n: number): boolean {
  return n === 0 || n === 2 || n === 3 || n === 4;
}
