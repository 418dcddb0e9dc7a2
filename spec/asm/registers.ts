// Reserved operand words (DESIGN §3.1, §3.3): general registers, the byte registers of
// `mov byte [m], a8`, control registers, `cs` and the `byte` size keyword. They are
// matched case-insensitively and can never name a symbol.

import { REG_NAMES } from '../observation.ts';

/** Low-byte names of registers 0–7, in encoding order (DESIGN §3.3, opcode 15). */
export const BYTE_REG_NAMES = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'] as const;

/** Control registers VX32 has (DESIGN §3.3: any other number is #UD). */
export const VALID_CRS: readonly number[] = [0, 2, 3, 4];

export type Reserved =
  | { k: 'reg'; reg: number }
  | { k: 'reg8'; reg: number }
  /** Any `crN`; whether N exists is the parser's business, so it can say so. */
  | { k: 'cr'; cr: number }
  | { k: 'cs' }
  | { k: 'byte' };

export function reservedWord(name: string): Reserved | null {
  const w = name.toLowerCase();
  const reg = (REG_NAMES as readonly string[]).indexOf(w);
  if (reg >= 0) return { k: 'reg', reg };
  const reg8 = (BYTE_REG_NAMES as readonly string[]).indexOf(w);
  if (reg8 >= 0) return { k: 'reg8', reg: reg8 };
  const cr = /^cr([0-9])$/.exec(w);
  if (cr !== null) return { k: 'cr', cr: Number(cr[1]) };
  if (w === 'cs') return { k: 'cs' };
  if (w === 'byte') return { k: 'byte' };
  return null;
}
