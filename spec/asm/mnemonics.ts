// Mnemonic → the opcodes that spell it, read from the encoding table (DESIGN §3.3) so
// that the assembler cannot disagree with the decoder. `mov` has eight forms, `push`,
// `jmp`, `call` and the ALU ops two; jcc also answers to every alias of COND_ALIASES.

import { COND_ALIASES, OPCODES, type OpInfo } from '../isa.ts';

function build(): Map<string, OpInfo[]> {
  const byName = new Map<string, OpInfo[]>();
  const add = (name: string, info: OpInfo) => {
    const list = byName.get(name) ?? [];
    if (!list.includes(info)) list.push(info);
    byName.set(name, list);
  };
  for (const info of OPCODES) if (info !== undefined) add(info.mnemonic, info);
  for (const [alias, cond] of Object.entries(COND_ALIASES)) {
    const info = OPCODES[0x50 + cond];
    if (info !== undefined) add('j' + alias, info);
  }
  return byName;
}

/** Keys are lower case; mnemonics are matched case-insensitively. */
export const MNEMONICS: ReadonlyMap<string, readonly OpInfo[]> = build();
