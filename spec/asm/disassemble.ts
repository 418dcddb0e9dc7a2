// The disassembler, the exact inverse of the assembler (DESIGN §3.9: assemble(disassemble
// (x)) reproduces the bytes). It reads the same OPCODES table as `decode`; whatever
// `decode` rejects (#UD) is written as `.db` of its 8 bytes, so even garbage round-trips.

import { decode, INSN_BYTES, type Insn } from '../isa.ts';
import { REG_NAMES } from '../observation.ts';
import { BYTE_REG_NAMES } from './registers.ts';

const hex = (n: number) => '0x' + n.toString(16);
const reg = (r: number) => REG_NAMES[r]!;

/** `[b]`, `[b + d]`, `[b - d]` (d ≥ 2^31 reads as a negative offset) or `[d]` for NOBASE. */
function memory(insn: Insn): string {
  if (insn.nobase) return `[${hex(insn.imm)}]`;
  if (insn.imm === 0) return `[${reg(insn.b)}]`;
  if (insn.imm >= 0x80000000) return `[${reg(insn.b)} - ${hex(2 ** 32 - insn.imm)}]`;
  return `[${reg(insn.b)} + ${hex(insn.imm)}]`;
}

function format(insn: Insn): string {
  const { info, a, b, imm } = insn;
  const m = info.mnemonic;
  switch (info.form) {
    case 'none':
      return m;
    case 'r':
      return `${m} ${reg(a)}`;
    case 'rr':
      return `${m} ${reg(a)}, ${reg(b)}`;
    case 'ri':
    case 'rsh':
    case 'in':
      return `${m} ${reg(a)}, ${hex(imm)}`;
    case 'i':
    case 'int':
      return `${m} ${hex(imm)}`;
    case 'rm':
      return info.kind.k === 'loadb' ? `${m} ${reg(a)}, byte ${memory(insn)}` : `${m} ${reg(a)}, ${memory(insn)}`;
    case 'mr':
      return info.kind.k === 'storeb' ? `${m} byte ${memory(insn)}, ${BYTE_REG_NAMES[a]!}` : `${m} ${memory(insn)}, ${reg(a)}`;
    case 'm':
      return `${m} ${memory(insn)}`;
    case 'out':
      return `${m} ${hex(imm)}, ${reg(a)}`;
    case 'tocr':
      return `${m} cr${b}, ${reg(a)}`;
    case 'fromcr':
      return `${m} ${reg(a)}, cr${b}`;
    case 'cs':
      return `${m} ${reg(a)}, cs`;
  }
}

function dataBytes(bytes: ArrayLike<number>): string {
  return '.db ' + Array.from(bytes, (x) => '0x' + (x & 0xff).toString(16).padStart(2, '0')).join(', ');
}

/** One instruction (8 bytes); fewer than 8 bytes, or an encoding decode rejects, becomes `.db`. */
export function disassembleInsn(bytes: ArrayLike<number>): string {
  const eight = Array.from({ length: Math.min(bytes.length, INSN_BYTES) }, (_, i) => bytes[i]! & 0xff);
  const insn = eight.length === INSN_BYTES ? decode(eight) : null;
  return insn === null ? dataBytes(eight) : format(insn);
}

/** A listing of `bytes` loaded at `origin`: `.org`, then one line per 8 bytes with its address as a comment. */
export function disassemble(bytes: Uint8Array, origin: number): string {
  const lines = [`.org ${hex(origin)}`];
  for (let off = 0; off < bytes.length; off += INSN_BYTES) {
    const text = disassembleInsn(bytes.subarray(off, off + INSN_BYTES));
    const addr = ((origin + off) >>> 0).toString(16).padStart(8, '0');
    lines.push(`    ${text.padEnd(48)} ; ${addr}`);
  }
  return lines.join('\n') + '\n';
}
