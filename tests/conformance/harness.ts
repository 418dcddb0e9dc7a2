// Harness for the hand-derived conformance tests of the VX32 reference model.
//
// Every expected value in tests/conformance/*.test.ts is derived by hand from DESIGN §3
// (and the Intel SDM vol. 3A where §3 is silent) — never copied from a model run. This
// file only builds programs (a small kernel frame: IDT, TSS, page tables, the way into
// user mode) and runs them; it computes no expected value.
//
// Physical layout used by `kernel()` (all inside the default 1 MiB of RAM):
//   0x01000  code (`start`, the body follows the BOOT instructions at 0x1010)
//   0x06F00  `khang` (hlt; jmp khang) — the default handler for every vector
//   0x06F80  `kidtr` (6 bytes: limit u16, base u32)
//   0x07000  IDT, 256 gates (limit 0x7FF unless a test narrows it)
//   0x07C00  `ktss` (ESP0 at +4 = 0x30000)
//   0x20000  kernel stack top, 0x30000 ESP0 (ring-0 stack of events from rings 1–3),
//   0x40000  user stack top; 0x50000.. page tables; 0x60000.. data pages for paging tests.

import { assemble } from '../../spec/asm/assemble.ts';
import { runSpec } from '../../spec/machine.ts';
import type { HostEvent, Observation } from '../../spec/observation.ts';

export const MiB = 1 << 20;

// EFLAGS bits (DESIGN §3.1).
export const CF = 0x1;
export const FIXED = 0x2; // bit 1, always 1
export const ZF = 0x40;
export const SF = 0x80;
export const IF = 0x200;
export const OF = 0x800;
export const IOPL3 = 0x3000;

// Vectors (DESIGN §3.7).
export const UD = 6;
export const DF = 8;
export const NP = 11;
export const GP = 13;
export const PF = 14;

// Selectors (DESIGN §3.1): CS = 0x08 + 0x11*cpl, SS = 0x10 + 0x11*cpl.
export const csOf = (cpl: number): number => 0x08 + 0x11 * cpl;
export const ssOf = (cpl: number): number => 0x10 + 0x11 * cpl;

export const CODE = 0x1000;
export const BOOT = 2; // `lidt [kidtr]`, `mov esp, KSTACK`
export const BODY = CODE + 8 * BOOT; // address of the first body instruction
export const HANG = 0x6f00;
export const IDT = 0x7000;
export const TSS = 0x7c00;
export const KSTACK = 0x20000;
export const ESP0 = 0x30000;
export const USTACK = 0x40000;
export const PD = 0x50000;
export const PT0 = 0x51000;
export const PT1 = 0x52000;
export const PT2 = 0x53000;

export interface RunOptions {
  ramBytes?: number;
  maxSteps?: number;
  events?: HostEvent[];
}

export interface Run extends Observation {
  /** Address of a label. */
  sym(name: string): number;
  /** Little-endian u32 of guest RAM at a physical address. */
  r32(addr: number): number;
  r8(addr: number): number;
}

export function run(src: string, opts: RunOptions = {}): Run {
  const { image, symbols } = assemble(src, 'conformance.s');
  const obs = runSpec(image, { ramBytes: opts.ramBytes ?? MiB }, opts.events ?? [], opts.maxSteps ?? 10_000);
  const ram = obs.ram.slice();
  return {
    ...obs,
    ram,
    sym(name: string): number {
      const v = symbols.get(name);
      if (v === undefined) throw new Error(`no symbol ${name}`);
      return v;
    },
    r32(addr: number): number {
      return (ram[addr]! | (ram[addr + 1]! << 8) | (ram[addr + 2]! << 16) | (ram[addr + 3]! << 24)) >>> 0;
    },
    r8(addr: number): number {
      return ram[addr]!;
    },
  };
}

/** Raw 8-byte instruction `op A B byte3 imm32` as a `.db` line (DESIGN §3.3). */
export function raw(op: number, A = 0, B = 0, byte3 = 0, imm = 0): string {
  const b = [op, A, B, byte3, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, (imm >>> 24) & 0xff];
  return `.db ${b.map((x) => '0x' + x.toString(16)).join(', ')}`;
}

export interface GateSpec {
  handler?: string;
  /** Low 4 bits of byte 5 (0xE interrupt gate, 0xF trap gate). */
  type?: number;
  dpl?: number;
  present?: boolean;
  selector?: number;
  /** Overrides the whole byte 5 (P, DPL, S, type). */
  byte5?: number;
  byte4?: number;
}

/**
 * One 8-byte IDT gate (DESIGN §3.7): offset bytes 0–1 and 6–7, selector bytes 2–3,
 * byte 4 ignored, byte 5 = P(7) DPL(6:5) type(3:0).
 */
export function gate(g: GateSpec = {}): string {
  const h = g.handler ?? 'khang';
  const sel = g.selector ?? 0x08;
  const b5 = g.byte5 ?? ((g.present ?? true) ? 0x80 : 0) | ((g.dpl ?? 0) << 5) | (g.type ?? 0xe);
  const b4 = g.byte4 ?? 0;
  return `.dd (${h} & 0xFFFF) | (${sel} << 16), (${h} & 0xFFFF0000) | ${(b5 << 8) | b4}`;
}

export interface KernelOptions {
  /** Per-vector gate overrides; a string is a handler label with default attributes. */
  gates?: Record<number, GateSpec | string>;
  idtLimit?: number;
  idtBase?: number;
  /** Where the 256 default gates are assembled (default IDT). */
  idtAt?: number | null;
  /** Extra assembly (data, handlers, user code), each region with its own `.org`. */
  extra?: string;
}

/**
 * A program with a minimal ring-0 kernel around `body`: BOOT instructions load the IDTR
 * and the kernel stack, then `body` runs at BODY. Every vector defaults to an interrupt
 * gate (DPL 0) to `khang`, which halts with IF = 0, so a fault ends the run `halted`
 * with the fault's entry in the trace.
 */
export function kernel(body: string, o: KernelOptions = {}): string {
  const limit = o.idtLimit ?? 0x7ff;
  const base = o.idtBase ?? IDT;
  const idtAt = o.idtAt === undefined ? IDT : o.idtAt;
  const idtrBytes = [limit & 0xff, (limit >> 8) & 0xff, base & 0xff, (base >>> 8) & 0xff, (base >>> 16) & 0xff, (base >>> 24) & 0xff];
  const lines = [
    '.entry start',
    `.org ${CODE}`,
    'start:',
    '    lidt [kidtr]',
    `    mov esp, ${KSTACK}`,
    body,
    `.org ${HANG}`,
    'khang: hlt',
    '    jmp khang',
    '.org 0x6F80',
    `kidtr: .db ${idtrBytes.join(', ')}`,
  ];
  if (idtAt !== null) {
    lines.push(`.org ${idtAt}`);
    for (let v = 0; v < 256; v++) {
      const g = o.gates?.[v];
      lines.push(gate(typeof g === 'string' ? { handler: g } : (g ?? {})));
    }
  }
  lines.push(`.org ${TSS}`, `ktss: .dd 0, ${ESP0}`);
  if (o.extra) lines.push(o.extra);
  return lines.join('\n');
}

export const TO_USER_INSNS = 8;

/**
 * Leave ring 0 for ring `cpl` at `entry` through iret (DESIGN §3.4: pops eip, CS, eflags,
 * and for an outer ring esp and SS). Loads tr = ktss first so events come back on ESP0.
 * Clobbers eax. TO_USER_INSNS instructions.
 */
export function toUser(entry: string, o: { cpl?: number; eflags?: number; esp?: number } = {}): string {
  const cpl = o.cpl ?? 3;
  return [
    '    mov eax, ktss',
    '    ltr eax',
    `    push ${ssOf(cpl)}`,
    `    push ${o.esp ?? USTACK}`,
    `    push ${o.eflags ?? FIXED}`,
    `    push ${csOf(cpl)}`,
    `    push ${entry}`,
    '    iret',
  ].join('\n');
}

/** A 1024-entry page table (or directory) at `base`; absent entries are 0. */
export function table(base: number, entries: Record<number, number>): string {
  const out = [`.org ${base}`];
  for (let i = 0; i < 1024; i += 8) {
    const row: string[] = [];
    for (let j = i; j < i + 8; j++) row.push('0x' + ((entries[j] ?? 0) >>> 0).toString(16));
    out.push(`.dd ${row.join(', ')}`);
  }
  return out.join('\n');
}

/** Identity PTEs for the first `pages` pages (1 MiB = 256 pages) with `flags`. */
export function identity(flags = 0x7, pages = 256): Record<number, number> {
  const e: Record<number, number> = {};
  for (let i = 0; i < pages; i++) e[i] = ((i << 12) | flags) >>> 0;
  return e;
}

export interface PagingOptions {
  /** PDE overrides; defaults PDE[0] = PT0|7, PDE[1] = PT1|7. */
  pde?: Record<number, number>;
  /** PT0 overrides on top of the identity map of the first MiB (flags 7). */
  pt0?: Record<number, number>;
  /** PT1 (linear 0x400000–0x7FFFFF) entries. */
  pt1?: Record<number, number>;
  /** PT2 at 0x53000 entries (for tests that point a PDE at it). */
  pt2?: Record<number, number>;
}

/** Page tables at PD/PT0/PT1/PT2 (DESIGN §3.5). */
export function pageTables(o: PagingOptions = {}): string {
  const parts = [table(PD, { 0: PT0 | 7, 1: PT1 | 7, ...o.pde }), table(PT0, { ...identity(), ...o.pt0 }), table(PT1, o.pt1 ?? {})];
  if (o.pt2) parts.push(table(PT2, o.pt2));
  return parts.join('\n');
}

export const PAGING_ON_INSNS = 4;

/** cr3 = PD, then CR0 = PE|PG. Clobbers eax. PAGING_ON_INSNS instructions. */
export const PAGING_ON = [`    mov eax, ${PD}`, '    mov cr3, eax', '    mov eax, 0x80000001', '    mov cr0, eax'].join('\n');

/** Flags preset through popf at cpl 0 (eflags ← v with the popf rules of DESIGN §3.4). */
export function setFlags(v: number): string {
  return `    push ${v}\n    popf`;
}
