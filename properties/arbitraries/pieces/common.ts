// What every piece shares: how it is emitted, the registers it may use, edge values.
//
// A piece is plain data (so fast-check can shrink its parameters) plus a render function
// that turns it into assembly lines. Pieces stay valid in any subset and order because
// each one (1) starts and ends at ring 0 with esp where it found it, (2) uses only labels
// prefixed with its own id, and (3) restores whatever it breaks on purpose (IDT gates,
// ESP0), except the paging state, which later pieces are written to tolerate.

import fc from 'fast-check';
import { hex } from '../layout.ts';
import type { Setup } from '../setup.ts';

export interface Ctx {
  /** Unique per piece (`p3`): every label the piece defines starts with it. */
  id: string;
  setup: Setup;
}

export interface Emit {
  /** One-line summary, printed as the piece's header comment. */
  title: string;
  /** Instructions, `label:` lines and comments, already indented. */
  lines: string[];
  /** Steps beyond the straight-line instruction count (loop iterations), for schedules. */
  extraSteps?: number;
}

/** General registers a piece may clobber: never esp, which the handlers need (DESIGN §3.7). */
export const REGS = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp'] as const;
export type Reg = (typeof REGS)[number];
export const regArb: fc.Arbitrary<Reg> = fc.constantFrom(...REGS);
export const BYTE_REG: Record<Reg, string> = { eax: 'al', ebx: 'bl', ecx: 'cl', edx: 'dl', esi: 'sil', edi: 'dil', ebp: 'bpl' };

/** The values where flags change meaning (DESIGN §3.4): zero, one, both sign boundaries, all ones. */
export const EDGES = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff] as const;
export const valueArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EDGES) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

export const ins = (text: string, comment?: string): string => (comment ? `    ${text.padEnd(30)}; ${comment}` : `    ${text}`);
export const label = (name: string): string => `${name}:`;
export const note = (text: string): string => `    ; ${text}`;
export { hex };

/**
 * True for a body line that takes one 8-byte instruction slot: an instruction, or the
 * `.dd lo, hi` of an invalid encoding (not a label or a comment).
 */
export function isInsnLine(line: string): boolean {
  const t = line
    .replace(/;.*$/, '')
    .trim()
    .replace(/^[A-Za-z_][A-Za-z0-9_.]*:\s*/, '');
  return t !== '' && (!t.startsWith('.') || t.startsWith('.dd'));
}

/** `weight` copies of common for one of rare: shrinks toward common. */
export const mostly = <T>(common: T, rare: fc.Arbitrary<T>, weight = 4): fc.Arbitrary<T> =>
  fc.oneof({ weight, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: rare });
