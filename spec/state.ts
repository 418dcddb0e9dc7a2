// DESIGN §3.1 — architectural state and reset.

import type { Image } from './observation.ts';

/** EFLAGS bits that exist in VX32 (§3.1); every other bit reads 0 and ignores writes. */
export const CF = 1 << 0;
export const EFLAGS_FIXED = 1 << 1; // bit 1 always reads 1
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const IF = 1 << 9;
export const OF = 1 << 11;
export const IOPL_SHIFT = 12;
export const IOPL_MASK = 3 << IOPL_SHIFT;
/** The arithmetic flags: what popf may always change (§3.4). */
export const STATUS_FLAGS = CF | ZF | SF | OF;

export const CR0_PE = 1 << 0;
export const CR0_WP = 1 << 16;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;

/** Selectors are a pure function of the ring (§3.1). */
export const codeSelector = (cpl: number): number => 0x08 + 0x11 * cpl;
export const stackSelector = (cpl: number): number => 0x10 + 0x11 * cpl;

/** Register indices, in encoding order (§3.1). */
export const EAX = 0,
  ECX = 1,
  EDX = 2,
  EBX = 3,
  ESP = 4,
  EBP = 5,
  ESI = 6,
  EDI = 7;

export interface CpuState {
  /** General registers; a Uint32Array so every write wraps to 32 bits. */
  regs: Uint32Array;
  eip: number;
  eflags: number;
  cpl: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  idtr: { base: number; limit: number };
  tr: number;
  /** External vectors raised and not yet delivered (§3.7), kept ascending. */
  pending: number[];
  /** Set by an `sti` that turned IF on; blocks delivery at the next boundary only (§3.10.6). */
  stiShadow: boolean;
  halted: boolean;
  shutdown: boolean;
  icount: number;
}

/** Reset (§3.1). */
export function resetState(image: Image): CpuState {
  return {
    regs: new Uint32Array(8),
    eip: image.entry >>> 0,
    eflags: EFLAGS_FIXED,
    cpl: 0,
    cr0: CR0_PE,
    cr2: 0,
    cr3: 0,
    cr4: 0,
    idtr: { base: 0, limit: 0 },
    tr: 0,
    pending: [],
    stiShadow: false,
    halted: false,
    shutdown: false,
    icount: 0,
  };
}

/** Normalise a value written to EFLAGS: only defined bits survive, bit 1 is set (§3.1). */
export function canonicalEflags(v: number): number {
  return ((v & (STATUS_FLAGS | IF | IOPL_MASK)) | EFLAGS_FIXED) >>> 0;
}

export function iopl(s: CpuState): number {
  return (s.eflags & IOPL_MASK) >>> IOPL_SHIFT;
}
