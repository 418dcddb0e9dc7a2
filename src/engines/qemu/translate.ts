// VX32 → IA-32 (issue 17, DESIGN §5 `qemu`): every 8-byte VX32 instruction becomes
// exactly 8 bytes of IA-32 code at the same address, the IA-32 instruction at the end
// and redundant DS prefixes (0x3E) in front. So a faulting eip, a pushed return address
// and a jump target are the same numbers on both machines. VX32's register numbering is
// IA-32's (eax ecx edx ebx esp ebp esi edi), its memory operand is a ModRM base + disp32,
// its IDT gates are IA-32's 32-bit interrupt and trap gates.
//
// An instruction IA-32 cannot express the same way is not translated: `unsupported`
// names why, and a run that reaches it is reported as beyond the translation, never as a
// divergence (docs/qemu.md lists every such limit).

import { badNobase, FIELDS, IMM_MAX, isCr } from '../../hw/decode.ts';
import { hltStub, HLT_STUB_BYTES, LTR_STUB_BYTES, ltrStub, type ReservedLayout } from './boot.ts';

export const SLOT = 8;
const DS = 0x3e;

export type Slot =
  | {
      kind: 'code';
      ia32: Uint8Array;
      vx32: Uint8Array;
      op: number;
      a: number;
      b: number;
      imm: number;
    }
  | { kind: 'unsupported'; op: number; why: string };

/** Decode one VX32 slot with src/hw's tables (DESIGN §3.3); undefined when it is not an instruction. */
export function decodeSlot(bytes: Uint8Array, at: number): { op: number; a: number; b: number; nobase: boolean; imm: number } | undefined {
  if (at + SLOT > bytes.length) return undefined;
  const w0 = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
  const imm = (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0;
  const op = w0 & 0xff;
  const fields = FIELDS[op]!;
  if (fields === 0 || (w0 & ~fields) !== 0 || badNobase(w0)) return undefined;
  const max = IMM_MAX[op]!;
  if (max !== -1 && imm > max) return undefined;
  const a = (w0 >>> 8) & 7;
  const b = (w0 >>> 16) & 7;
  if ((op === 0x70 || op === 0x71) && !isCr(b)) return undefined;
  return { op, a, b, nobase: ((w0 >>> 16) & 8) !== 0, imm };
}

const u32le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** ModRM (+SIB) + disp32 for VX32's memory operand `[b + imm]` or `[imm]` (NOBASE), with `reg` in bits 3–5. */
function mem(reg: number, b: number, nobase: boolean, imm: number): number[] {
  if (nobase) return [(reg << 3) | 5, ...u32le(imm)]; // mod 00, r/m 101: disp32 alone
  if (b === 4) return [0x80 | (reg << 3) | 4, 0x24, ...u32le(imm)]; // [esp + disp32] needs a SIB
  return [0x80 | (reg << 3) | b, ...u32le(imm)];
}

const ALU_RR = [0x01, 0x29, 0x21, 0x09, 0x31, 0x39, 0x85]; // add sub and or xor cmp test  r/m32, r32
const ALU_RI = [0, 5, 4, 1, 6, 7]; // /digit of 81 id for add sub and or xor cmp
const SHIFT = [4, 5, 7]; // C1 /digit ib: shl shr sar
const JCC = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, 0xc, 0xd, 0xe, 0xf];

/** Planted translator bugs, for showing that the comparison catches one (issue 17, item 4). */
export const TRANSLATOR_BUGS: Readonly<Record<string, string>> = {
  'jcc-inverted': 'every conditional jump is translated with the opposite condition',
};

/** Where the translation puts what it needs outside the guest's RAM (boot.ts), and the ltr stubs it asked for. */
export interface TranslationContext {
  layout: ReservedLayout;
  stubs: { at: number; bytes: number[] }[];
}

/** Where the next stub goes in the reserved page, or undefined when `bytes` more do not fit. */
function nextStub(ctx: TranslationContext, bytes: number): number | undefined {
  const last = ctx.stubs[ctx.stubs.length - 1];
  const at = last === undefined ? ctx.layout.stubs : last.at + last.bytes.length;
  return at + bytes > ctx.layout.stubsEnd ? undefined : at;
}

/** `clts` (privileged: #GP(0) above cpl 0, as VX32's privileged instructions; CR0.TS is always 0 here) then `jmp target`. */
const privilegedJump = (addr: number, target: number): number[] => [0x0f, 0x06, 0xe9, ...u32le((target - (addr + SLOT)) >>> 0)];

/** The IA-32 bytes of one VX32 instruction at `addr`, or why there are none. */
export function translateInsn(
  addr: number,
  d: NonNullable<ReturnType<typeof decodeSlot>>,
  bugs: readonly string[] = [],
  /** Without it, hlt, ltr and str (which need the reserved page) are not translated. */
  ctx?: TranslationContext,
): Slot {
  const { op, a, b, nobase, imm } = d;
  const no = (why: string): Slot => ({ kind: 'unsupported', op, why });
  let x: number[];
  switch (op) {
    case 0x01:
      x = [0x90];
      break;
    case 0x02: {
      // With no interrupt to wait for, VX32's hlt ends the run (DESIGN §3.10.9): a jump to
      // a stub of its own that notes where the hlt is, then boot.ts's exit routine (the end
      // state and RAM hashes out through debugcon, then isa-debug-exit), behind a privileged
      // instruction so that cpl > 0 raises #GP(0) at the hlt's eip.
      if (ctx === undefined) return no('hlt: needs the exit routine');
      const at = nextStub(ctx, HLT_STUB_BYTES);
      if (at === undefined) return no('hlt: more hlt and ltr instructions than the reserved page has stubs for');
      ctx.stubs.push({ at, bytes: hltStub(at, addr + SLOT, ctx.layout) });
      x = privilegedJump(addr, at);
      break;
    }
    case 0x03:
      x = [0x0f, 0x0b];
      break;
    case 0x10:
      x = [0x89, 0xc0 | (b << 3) | a];
      break;
    case 0x11:
      x = [0xb8 + a, ...u32le(imm)];
      break;
    case 0x12:
      x = [0x8b, ...mem(a, b, nobase, imm)];
      break;
    case 0x13:
      x = [0x89, ...mem(a, b, nobase, imm)];
      break;
    case 0x14:
      x = [0x0f, 0xb6, ...mem(a, b, nobase, imm)];
      break;
    case 0x15:
      // IA-32 without REX names ah ch dh bh where VX32 names spl bpl sil dil.
      if (a >= 4) return no('mov byte [m], a8 with a = esp..edi: IA-32 has no spl bpl sil dil outside 64-bit mode');
      x = [0x88, ...mem(a, b, nobase, imm)];
      break;
    case 0x16:
      x = [0x8d, ...mem(a, b, nobase, imm)];
      break;
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0x26:
      x = [ALU_RR[op - 0x20]!, 0xc0 | (b << 3) | a];
      break;
    case 0x2e:
      x = [0xf7, 0xc0 | a, ...u32le(imm)];
      break;
    case 0x28:
    case 0x29:
    case 0x2a:
    case 0x2b:
    case 0x2c:
    case 0x2d:
      x = [0x81, 0xc0 | (ALU_RI[op - 0x28]! << 3) | a, ...u32le(imm)];
      break;
    case 0x30:
    case 0x31:
    case 0x32:
      x = [0xc1, 0xc0 | (SHIFT[op - 0x30]! << 3) | a, imm];
      break;
    case 0x33:
      x = [0xf7, 0xd0 | a];
      break;
    case 0x34:
      x = [0xf7, 0xd8 | a];
      break;
    case 0x35:
      x = [0xff, 0xc0 | a];
      break;
    case 0x36:
      x = [0xff, 0xc8 | a];
      break;
    case 0x40:
      x = [0xe9, ...u32le((imm - (addr + SLOT)) >>> 0)];
      break;
    case 0x41:
      x = [0xff, 0xe0 | a];
      break;
    case 0x42:
      x = [0xe8, ...u32le((imm - (addr + SLOT)) >>> 0)];
      break;
    case 0x43:
      x = [0xff, 0xd0 | a];
      break;
    case 0x44:
      x = [0xc3];
      break;
    case 0x45:
      x = [0x50 + a];
      break;
    case 0x46:
      x = [0x68, ...u32le(imm)];
      break;
    case 0x47:
      x = [0x58 + a];
      break;
    case 0x60:
      return no('pushf: IA-32 pushes PF and AF, which VX32 does not have');
    case 0x61:
      x = [0x9d];
      break;
    case 0x62:
      x = [0xfa];
      break;
    case 0x63:
      x = [0xfb];
      break;
    case 0x64:
      x = [0xcd, imm];
      break;
    case 0x65:
      x = [0xcf];
      break;
    case 0x66:
      return no('in: IA-32 reads a 32-bit port range where VX32 reads one value per port');
    case 0x67:
      if (imm !== 0xe9 || a !== 0) return no('out imm, a: only out 0xE9, eax has an IA-32 form (out 0xE9, al) with the same effect');
      x = [0xe6, 0xe9];
      break;
    case 0x70:
      x = [0x0f, 0x22, 0xc0 | (b << 3) | a];
      break;
    case 0x71:
      // IA-32 reads CR0.ET (bit 4) as 1, always (QEMU too), VX32 as 0: lea takes it off without touching flags.
      x = [0x0f, 0x20, 0xc0 | (b << 3) | a, ...(b !== 0 ? [] : a === 4 ? [0x8d, 0x64, 0x24, 0xf0] : [0x8d, 0x40 | (a << 3) | a, 0xf0])];
      break;
    case 0x72:
      x = [0x0f, 0x01, ...mem(3, b, nobase, imm)];
      break;
    case 0x73:
      x = [0x0f, 0x01, ...mem(1, b, nobase, imm)];
      break;
    case 0x74: {
      // VX32's tr is a linear address, IA-32's a selector: a stub writes the TSS descriptor (boot.ts).
      if (ctx === undefined) return no('ltr: needs the reserved page');
      const at = nextStub(ctx, LTR_STUB_BYTES);
      if (at === undefined) return no('ltr: more hlt and ltr instructions than the reserved page has stubs for');
      ctx.stubs.push({ at, bytes: ltrStub(at, a, addr + SLOT, ctx.layout) });
      x = privilegedJump(addr, at);
      break;
    }
    case 0x75:
      // The value the last ltr stub stored (0 from reset).
      if (ctx === undefined) return no('str: needs the reserved page');
      x = [0x8b, (a << 3) | 5, ...u32le(ctx.layout.trVal)];
      break;
    case 0x76:
      x = [0x0f, 0x01, ...mem(7, b, nobase, imm)];
      break;
    case 0x77:
      x = [0x8c, 0xc8 | a];
      break;
    default:
      if (op >= 0x50 && op <= 0x5f && JCC[op - 0x50]! >= 0) {
        const cc = JCC[op - 0x50]! ^ (bugs.includes('jcc-inverted') ? 1 : 0);
        x = [0x0f, 0x80 | cc, ...u32le((imm - (addr + SLOT)) >>> 0)];
        break;
      }
      return no(`opcode 0x${op.toString(16)} has no translation`);
  }
  if (x.length > SLOT) throw new Error(`translation of op 0x${op.toString(16)} is ${x.length} bytes`);
  const ia32 = new Uint8Array(SLOT).fill(DS);
  ia32.set(x, SLOT - x.length);
  return { kind: 'code', ia32, vx32: new Uint8Array([op, a, (nobase ? 8 : 0) | b, 0, ...u32le(imm)]), op, a, b, imm };
}

export interface Translation {
  /** The image with every instruction slot replaced by its IA-32 code. */
  chunks: { addr: number; bytes: Uint8Array }[];
  /** Every 8-byte-aligned slot of the image that decodes as a VX32 instruction. */
  slots: Map<number, Slot>;
  /** The ltr stubs, for the reserved page. */
  stubs: { at: number; bytes: number[] }[];
}

/** IA-32 `ud2`, where VX32 raises #UD on bytes that do not decode (DESIGN §3.3). */
const UD2: Uint8Array = new Uint8Array(SLOT)
  .fill(DS)
  .fill(0x0f, SLOT - 2, SLOT - 1)
  .fill(0x0b, SLOT - 1);

/**
 * Translate the 8-byte-aligned slots of the image: with `executed` (the physical addresses
 * the spec fetched instructions from), those slots only — an image does not say which
 * bytes are code, and a data word left alone stays data — and an executed slot that does
 * not decode becomes `ud2` (#UD on both). Without it, every slot that decodes, which
 * changes data words that happen to decode (docs/qemu.md: `data-as-code`).
 */
export function translateImage(
  chunks: readonly { addr: number; bytes: Uint8Array }[],
  bugs: readonly string[],
  layout: ReservedLayout,
  executed?: ReadonlySet<number>,
): Translation {
  const slots = new Map<number, Slot>();
  const ctx: TranslationContext = { layout, stubs: [] };
  const out: { addr: number; bytes: Uint8Array }[] = chunks.map((c) => {
    const bytes = c.bytes.slice();
    for (let off = (SLOT - (c.addr % SLOT)) % SLOT; off + SLOT <= bytes.length; off += SLOT) {
      if (executed !== undefined && !executed.has(c.addr + off)) continue;
      const d = decodeSlot(c.bytes, off);
      if (d === undefined) {
        if (executed === undefined) continue;
        const vx32 = c.bytes.slice(off, off + SLOT);
        slots.set(c.addr + off, { kind: 'code', ia32: UD2, vx32, op: vx32[0]!, a: 0, b: 0, imm: 0 });
        bytes.set(UD2, off);
        continue;
      }
      const slot = translateInsn(c.addr + off, d, bugs, ctx);
      slots.set(c.addr + off, slot);
      if (slot.kind === 'code') bytes.set(slot.ia32, off);
    }
    return { addr: c.addr, bytes };
  });
  // Executed slots outside the image hold zeros at reset: opcode 00, #UD on VX32.
  for (const addr of executed ?? [])
    if (!slots.has(addr) && addr % SLOT === 0 && addr + SLOT <= layout.base) {
      slots.set(addr, { kind: 'code', ia32: UD2, vx32: new Uint8Array(SLOT), op: 0, a: 0, b: 0, imm: 0 });
      out.push({ addr, bytes: UD2 });
    }
  return { chunks: out, slots, stubs: ctx.stubs };
}

/** Guest RAM as VX32 sees it: every slot still holding its translation gets its VX32 bytes back. */
export function untranslate(ram: Uint8Array, slots: Map<number, Slot>): void {
  for (const [addr, slot] of slots) {
    if (slot.kind !== 'code' || addr + SLOT > ram.length) continue;
    if (ram.subarray(addr, addr + SLOT).every((v, i) => v === slot.ia32[i])) ram.set(slot.vx32, addr);
  }
}

/** Guest RAM as QEMU holds it: every slot still holding its VX32 bytes gets its translation (for the page hashes). */
export function retranslate(ram: Uint8Array, slots: Map<number, Slot>): Uint8Array {
  const out = ram.slice();
  for (const [addr, slot] of slots) {
    if (slot.kind !== 'code' || addr + SLOT > out.length) continue;
    if (out.subarray(addr, addr + SLOT).every((v, i) => v === slot.vx32[i])) out.set(slot.ia32, addr);
  }
  return out;
}
