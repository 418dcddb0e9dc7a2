// A case as one complete VX32 program (DESIGN §3.9) a person can paste into `popek run`:
// a header saying how to run it, the prologue that sets up the state and jumps (or
// `iret`s) to the instruction, the handler of every vector — it exercises the MMIO device
// (§3.2), keeps eax and halts — the instruction followed by `hlt`, then the data
// (data.ts). `imageOf` is the same program without assembling its data lines.

import { assemble } from '../../spec/asm/assemble.ts';
import { disassembleInsn } from '../../spec/asm/disassemble.ts';
import type { Image } from '../../spec/observation.ts';
import { MMIO, codeSelector, hex, stackSelector } from '../arbitraries/layout.ts';
import { ins } from '../arbitraries/pieces/common.ts';
import { dataBlocks } from './data.ts';
import { encodeInsn, insnAddr, resolveTarget, type Encoded } from './insn.ts';
import { HANDLER, IDT, IDT_DESC, PD, PSTACK, PT, PT_MMIO, TSS, VARS, valueText } from './layout.ts';
import { cr0Of, cr4Of, pagingOn } from './paging.ts';
import { eflagsOf, type InsnCase } from './state.ts';

const REG_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

/** The register values the prologue loads (index 4, esp, is `state.esp`). */
export function registersOf(c: InsnCase): number[] {
  const regs = c.state.regs.map((v) => v >>> 0);
  regs[4] = c.state.esp >>> 0;
  const i = c.insn;
  // The value an instruction takes from register a, when the pool would rarely give a useful one.
  if (i.enc === 'valid' && i.a !== 4) {
    if (i.op.form === 'tocr') regs[i.a] = i.aValue >>> 0;
    if (i.op.name === 'jmp-reg' || i.op.name === 'call-reg') regs[i.a] = resolveTarget(c, i.target) >>> 0;
  }
  return regs;
}

/** The prologue's instructions, from `start` to the jump into the instruction under test. */
function prologueLines(c: InsnCase): string[] {
  const s = c.state;
  const regs = registersOf(c);
  const lines = [
    ins('mov esp, PSTACK'),
    ins('lidt [IDT_DESC]'),
    ins(`mov eax, ${hex(s.counter)}`),
    ins('mov [MMIO + 4], eax', 'COUNTER (paging is still off)'),
    ...s.log.flatMap((v) => [ins(`mov eax, ${hex(v)}`), ins('mov [MMIO + 8], eax', 'a LOG entry')]),
    ins(`mov eax, ${valueText(s.tr)}`),
    ins('ltr eax'),
    ins(`mov eax, ${hex(s.cr2)}`),
    ins('mov cr2, eax'),
    ins('mov eax, PD'),
    ins('mov cr3, eax'),
    ins(`mov eax, ${hex(cr4Of(c))}`),
    ins('mov cr4, eax'),
  ];
  if (s.cpl > 0) {
    lines.push(
      ins(`push ${hex(stackSelector(s.cpl))}`, `iret frame to ring ${s.cpl}: SS`),
      ins(`push ${valueText(s.esp)}`),
      ins(`push ${hex(eflagsOf(c))}`, 'eflags'),
      ins(`push ${hex(codeSelector(s.cpl))}`, 'CS'),
      ins('push insn'),
    );
  } else lines.push(ins(`push ${hex(eflagsOf(c))}`, 'eflags for the popf below'));
  lines.push(ins(`mov eax, ${hex(cr0Of(c))}`), ins('mov cr0, eax', pagingOn(c) ? 'paging on' : 'paging off'));
  for (const r of [0, 1, 2, 3, 5, 6, 7]) lines.push(ins(`mov ${REG_NAMES[r]}, ${valueText(regs[r]!)}`));
  if (s.cpl > 0) lines.push(ins('iret', `to ring ${s.cpl} at insn`));
  else lines.push(ins('popf', 'ring 0: every bit applies'), ins(`mov esp, ${valueText(s.esp)}`), ins('jmp insn'));
  return lines;
}

/** Instructions the prologue retires before the one under test (irq times count from here). */
export const prologueSteps = (c: InsnCase): number => prologueLines(c).length;

function headerLines(c: InsnCase, enc: Encoded): string[] {
  const s = c.state;
  const pg = c.paging;
  const paging =
    pg.mode === 'off'
      ? 'off'
      : `on (${pg.mode === '4m' ? '4 MiB page at 0' : pg.mode === 'ps-without-pse' ? 'PDE 0 has PS but CR4.PSE = 0' : '4 KiB pages'}, CR0.WP ${+pg.wp}, CR4.PSE ${cr4Of(c) ? 1 : 0})`;
  return [
    `; popek insn-states case: ${disassembleInsn(enc.bytes)} (${enc.what}) at cpl ${s.cpl}`,
    `;   popek run case.s --ram 64K --max-steps ${c.maxSteps}${c.events.length ? ' --events case.events.json' : ''}`,
    ...(c.events.length ? [`; case.events.json: ${JSON.stringify(c.events)}`] : []),
    `; state: cpl ${s.cpl}, IOPL ${s.iopl}, IF ${+s.if}, eflags ${hex(eflagsOf(c))}, esp ${hex(s.esp)}, TR ${hex(s.tr)}, ESP0 ${hex(s.esp0)}, paging ${paging}`,
  ];
}

/** The names the code uses (the rest of the layout is named in comments, see `describe`). */
const CODE_NAMES: [string, number][] = [
  ['HANDLER', HANDLER],
  ['VARS', VARS],
  ['IDT_DESC', IDT_DESC],
  ['PD', PD],
  ['PSTACK', PSTACK],
  ['MMIO', MMIO],
];
/** The names the data uses. */
const DATA_NAMES: [string, number][] = [
  ['IDT', IDT],
  ['TSS', TSS],
  ['PT', PT],
  ['PT_MMIO', PT_MMIO],
];

/** The code half of the program: header, names, prologue, handler, the instruction under test. */
export function codeText(c: InsnCase): string {
  const enc = encodeInsn(c);
  const text = disassembleInsn(enc.bytes);
  // What decode rejects prints as .db; as .dd it reads like the encoding table (op A B 0, imm).
  const w0 = (enc.bytes[0]! | (enc.bytes[1]! << 8) | (enc.bytes[2]! << 16) | (enc.bytes[3]! << 24)) >>> 0;
  const imm = (enc.bytes[4]! | (enc.bytes[5]! << 8) | (enc.bytes[6]! << 16) | (enc.bytes[7]! << 24)) >>> 0;
  const insnLine = text.startsWith('.db') ? ins(`.dd ${hex(w0)}, ${hex(imm)}`, enc.what) : ins(text, 'the instruction under test');
  return [
    ...headerLines(c, enc),
    '',
    ...CODE_NAMES.map(([n, v]) => `.equ ${n}, ${hex(v)}`),
    '',
    '.org 0',
    '.entry start',
    'start:',
    ...prologueLines(c),
    '',
    '; every vector: exercise the device (DESIGN §3.2), keep eax, halt',
    '.org HANDLER',
    'handler:',
    ins('mov [VARS], eax', 'no stack: esp may be anything'),
    ins('mov [MMIO], eax', 'ID is read-only: this write must not stick'),
    ins('mov eax, [MMIO]'),
    ins('mov [VARS + 4], eax'),
    ins('mov eax, [MMIO + 4]', 'COUNTER: returns the value, then increments it'),
    ins('mov [MMIO + 8], eax', 'LOG: appends it'),
    ins('mov eax, [VARS]'),
    'halt:',
    ins('hlt'),
    ins('jmp halt'),
    '',
    `.org ${hex(insnAddr(c))}`,
    'insn:',
    insnLine,
    ins('hlt', 'at cpl > 0: #GP(0)'),
    '',
  ].join('\n');
}

/** The complete program (DESIGN §3.9), ready for `popek run`. */
export const render = (c: InsnCase): string =>
  [codeText(c), '; ---- data', ...DATA_NAMES.map(([n, v]) => `.equ ${n}, ${hex(v)}`), ...dataBlocks(c).flatMap((b) => b.lines()), ''].join(
    '\n',
  );

const littleEndian = (words: readonly number[]): Uint8Array => {
  const out = new Uint8Array(4 * words.length);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(4 * i, w >>> 0, true));
  return out;
};

/**
 * The image of `render(c)` without parsing its 40-odd data lines: the code is assembled,
 * the data words are loaded as they are. insn-states.test.ts checks that this equals
 * `assemble(render(c))` byte for byte, so the program printed is the program run.
 */
export function imageOf(c: InsnCase): Image {
  const { image } = assemble(codeText(c), 'case.s');
  const chunks = [...image.chunks, ...dataBlocks(c).map((b) => ({ addr: b.addr, bytes: littleEndian(b.words) }))];
  return { chunks: chunks.sort((x, y) => x.addr - y.addr), entry: image.entry };
}
