// A case as one complete VX32 program (DESIGN §3.9) that a person can paste into
// `popek run`: a header saying how to run it, a fixed prologue (stack, IDT, TSS with ESP0,
// page tables, CR3/CR4/CR0), the generated body — one labelled block per piece — an
// epilogue that idles with interrupts on until the schedule is exhausted, the handlers,
// and the data (IDT, TSS, variables, code stubs, page tables).
//
// The handlers make every event "return sensibly" so a run goes on: exceptions skip the
// 8-byte instruction that raised them (DESIGN §3.3: every instruction is 8 bytes),
// interrupts and `int n` return to the next instruction, `int 0x80` from ring 1–3 returns
// to the kernel. Each leaves a trace in RAM (error code, CR2, a counter) so a VMM that
// delivers the wrong frame diverges in memory, not only in the trace.

import type { HostEvent } from '../../spec/observation.ts';
import { gateOf } from './idt.ts';
import * as L from './layout.ts';
import { identityTableLines, mmioTableLines, spaceLines } from './paging.ts';
import { isInsnLine } from './pieces/common.ts';
import { renderPiece, stepsOf, type Piece } from './pieces/index.ts';
import type { Setup } from './setup.ts';

/** What render needs of a case (case.ts builds the rest around it). */
export interface Renderable {
  setup: Setup;
  pieces: readonly Piece[];
  events: readonly HostEvent[];
  maxSteps: number;
}

const hex = L.hex;

function equLines(setup: Setup): string[] {
  const layout: [string, number][] = [
    ['IDT', L.IDT],
    ['TSS', L.TSS],
    ['VARS', L.VARS],
    ['DATA0', L.DATA0],
    ['DATA1', L.DATA1],
    ['USTACK', L.USTACK],
    ['KSTACK', L.KSTACK],
    ['PD_A', L.PD_A],
    ['PD_B', L.PD_B],
    ['PT_LOW', L.PT_LOW],
    ['PT_PLAY_A', L.PT_PLAY_A],
    ['PT_PLAY_B', L.PT_PLAY_B],
    ['PT_MMIO', L.PT_MMIO],
    ['F0', L.FRAMES[0]],
    ['F1', L.FRAMES[1]],
    ['F2', L.FRAMES[2]],
    ['F3', L.FRAMES[3]],
    ['KSTACK_TOP', L.KSTACK_TOP],
    ['USTACK_TOP', L.USTACK_TOP],
    ['RAM_END', setup.ramBytes],
    ['BIG', L.BIG],
    ['PLAY', L.PLAY],
    ['REC', L.REC],
    ['REC_PD', L.REC_PD],
    ['MMIO', L.MMIO],
  ];
  const bits: [string, number][] = [
    ['P', 1],
    ['RW', 2],
    ['US', 4],
    ['A', 0x20],
    ['D', 0x40],
    ['PS', 0x80],
    ['RSVD4M', 1 << 13],
    ['CR0_PE', 1],
    ['CR0_WP', 1 << 16],
    ['CR0_PG', 0x80000000],
    ['CR4_PSE', 1 << 4],
  ];
  const rings: [string, number][] = [1, 2, 3].flatMap((r): [string, number][] => [
    [`USER_CS${r}`, L.codeSelector(r)],
    [`USER_SS${r}`, L.stackSelector(r)],
  ]);
  return [
    '; layout (properties/arbitraries/layout.ts)',
    ...layout.map(([n, v]) => `.equ ${n}, ${hex(v)}`),
    '; page-table bits (DESIGN §3.5), control-register bits (§3.1), selectors of rings 1–3',
    ...bits.map(([n, v]) => `.equ ${n}, ${hex(v)}`),
    ...rings.map(([n, v]) => `.equ ${n}, ${hex(v)}`),
  ];
}

function prologueLines(setup: Setup): string[] {
  const cr0 = ['CR0_PE', setup.paging && 'CR0_PG', setup.wp && 'CR0_WP'].filter((x): x is string => typeof x === 'string').join(' | ');
  return [
    '.org 0',
    '.entry start',
    'start:',
    '    mov esp, KSTACK_TOP',
    '    lidt [idt_desc]',
    '    mov eax, TSS',
    '    ltr eax                       ; ESP0 = KSTACK_TOP',
    `    mov eax, PD_${setup.startSpace}`,
    '    mov cr3, eax                  ; loaded even with paging off, for a later CR0.PG',
    `    mov eax, ${setup.pse ? 'CR4_PSE' : '0'}`,
    '    mov cr4, eax',
    `    mov eax, ${cr0}`,
    `    mov cr0, eax${setup.paging ? '                  ; paging on: the code is identity-mapped' : ''}`,
    ...(setup.startIf ? ['    sti'] : []),
  ];
}

export interface BodyLayout {
  lines: string[];
  /** Expected icount at the start of each piece (straight line, no faults or events). */
  starts: number[];
  /** Expected icount at the end of the body. */
  total: number;
}

/** The body, and the step estimates the event schedule anchors to (events.ts). */
export function layoutBody(setup: Setup, pieces: readonly Piece[]): BodyLayout {
  const lines: string[] = ['body:'];
  const starts: number[] = [];
  let at = prologueLines(setup).filter(isInsnLine).length;
  pieces.forEach((p, i) => {
    const id = `p${i}`;
    const e = renderPiece(p, { id, setup });
    starts.push(at);
    at += stepsOf(e);
    lines.push(`; ---- ${id}: ${e.title}`, `${id}:`, ...e.lines, `${id}_end:`);
  });
  lines.push('body_end:');
  return { lines, starts, total: at };
}

const EPILOGUE = [
  '; epilogue: idle with interrupts on until the schedule is exhausted (the run then ends halted)',
  '    sti',
  'idle:',
  '    hlt',
  '    jmp idle',
];

const HANDLERS = `
; ---- handlers (ring 0) -----------------------------------------------------------
; #UD: skip the 8-byte instruction that raised it.
h_ud:
    push eax
    mov eax, [esp + 4]            ; saved eip
    add eax, 8
    mov [esp + 4], eax
    pop eax
    iret                          ; iret restores the interrupted flags

; #DF, #NP, #GP: record the error code, skip the instruction, drop the error code.
h_df:
h_np:
h_gp:
    push eax
    mov eax, [esp + 4]            ; error code
    mov [last_error], eax
    mov eax, [esp + 8]            ; saved eip
    add eax, 8
    mov [esp + 8], eax
    pop eax
    lea esp, [esp + 4]
    iret

; #PF: record the error code and CR2; skip the instruction, or, if the fetch itself
; faulted (CR2 within the 8 bytes at eip), resume at fetch_resume (then reset to body_end).
h_pf:
    push eax
    push ebx
    mov eax, [esp + 8]            ; error code
    mov [last_error], eax
    mov eax, cr2
    mov [last_cr2], eax
    mov ebx, [esp + 12]           ; saved eip
    sub eax, ebx
    cmp eax, 8
    jb h_pf_fetch
    add ebx, 8
    jmp h_pf_out
h_pf_fetch:
    mov ebx, [fetch_resume]
    mov eax, body_end
    mov [fetch_resume], eax
h_pf_out:
    mov [esp + 12], ebx
    pop ebx
    pop eax
    lea esp, [esp + 4]
    iret

; Interrupts and int n: count, return to the next instruction.
h_irq:
    push eax
    mov eax, [irq_count]
    inc eax
    mov [irq_count], eax
    pop eax
    iret

; int 0x80 from ring 1–3: back to the kernel at the instruction after the int, with the
; outer ring's flags and esp = ESP0 (the kernel stack top, where every piece keeps esp).
; From ring 0 (only after a failed iret) it is a plain return.
h_return:
    push eax
    mov eax, [esp + 8]            ; saved CS
    test eax, 3
    jz h_return_ring0
    mov eax, [esp + 4]            ; saved eip
    mov [esp + 20], eax           ; over the saved SS
    mov eax, [esp + 12]           ; saved eflags
    mov [esp + 16], eax           ; over the saved esp
    pop eax
    lea esp, [esp + 12]
    popf
    ret
h_return_ring0:
    pop eax
    iret
`
  .trim()
  .split('\n');

function idtLines(setup: Setup): string[] {
  const gates = Array.from({ length: 256 }, (_, v) => gateOf(v, setup));
  const handlers = [...new Set(gates.map((g) => g.handler))];
  const out = [
    '; IDT (DESIGN §3.7): low word offset 15:0 | selector 0x08 << 16, high word byte 5 = P DPL type',
    ...handlers.map((h) => `.equ G_${h.slice(2).toUpperCase()}, 0x80000 | ${h}`),
    '.org IDT',
  ];
  for (let v = 0; v < 256; v += 4) {
    const words = gates.slice(v, v + 4).map((g) => `G_${g.handler.slice(2).toUpperCase()}, ${hex(g.attr << 8)}`);
    out.push(`    .dd ${words.join(', ')}    ; ${v}–${v + 3}`);
  }
  return out;
}

function dataLines(setup: Setup): string[] {
  return [
    '.org TSS',
    '    .dd 0, KSTACK_TOP, 0x10       ; ESP0 at TSS + 4; SS0 at TSS + 8 (read by IA-32, not VX32: docs/qemu.md)',
    '.org VARS',
    'last_error:   .dd 0',
    'last_cr2:     .dd 0',
    'irq_count:    .dd 0',
    'fetch_resume: .dd body_end',
    'idt_desc:     .dd (IDT << 16) | 0x7FF, IDT >> 16     ; limit, base: 256 gates',
    'idt_small:    .dd (IDT << 16) | 0xFF, IDT >> 16      ; 32 gates',
    ...L.FRAMES.flatMap((_, i) => [
      `.org F${i}                          ; a code stub any window may call`,
      `    mov eax, ${hex(0xf0 + i)}`,
      '    ret',
    ]),
    '.org PT_LOW                       ; identity map of RAM and one page beyond',
    ...identityTableLines(setup.ramBytes, setup.data1, setup.presetAD),
    ...spaceLines('A', setup.spaces.A, setup.presetAD),
    ...spaceLines('B', setup.spaces.B, setup.presetAD),
    ...mmioTableLines(setup.presetAD),
  ];
}

function headerLines(c: Renderable): string[] {
  const s = c.setup;
  const ram = s.ramBytes % 0x100000 === 0 ? `${s.ramBytes / 0x100000}M` : `${s.ramBytes / 1024}K`;
  return [
    `; popek generated guest: ${c.pieces.length} piece${c.pieces.length === 1 ? '' : 's'} (properties/arbitraries)`,
    `;   popek run case.s --ram ${ram} --max-steps ${c.maxSteps}${c.events.length > 0 ? ' --events case.events.json' : ''}`,
    ...(c.events.length > 0 ? [`; case.events.json: ${JSON.stringify(c.events)}`] : []),
    `; setup: paging ${s.paging ? 'on' : 'off'} in space ${s.startSpace}, CR4.PSE ${+s.pse}, CR0.WP ${+s.wp}, ` +
      `irq gates ${s.irqGate}, IF ${+s.startIf} at the body`,
  ];
}

export interface Rendered {
  text: string;
  /** The body's lines, from `body:` to `body_end:`. */
  body: string[];
}

export function renderParts(c: Renderable): Rendered {
  const body = layoutBody(c.setup, c.pieces).lines;
  const text = [
    ...headerLines(c),
    '',
    ...equLines(c.setup),
    '',
    ...prologueLines(c.setup),
    ...body,
    ...EPILOGUE,
    '',
    ...HANDLERS,
    '',
    ...idtLines(c.setup),
    ...dataLines(c.setup),
    '',
  ].join('\n');
  return { text, body };
}

/** The complete program. */
export const render = (c: Renderable): string => renderParts(c).text;

/** Instruction slots in the body (what the shrinking test measures). */
export const bodyInsnCount = (c: Renderable): number => renderParts(c).body.filter(isInsnLine).length;
