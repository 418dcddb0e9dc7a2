// One source line → labels and at most one statement (DESIGN §3.9: Intel syntax, one
// statement per line; §3.10.16: a label may share a line with an instruction).
// Parsing is purely syntactic; values and operand forms are settled by assemble.ts and
// select.ts, which know the symbols.

import { Cursor } from './cursor.ts';
import type { Where } from './errors.ts';
import { parseExpr, SYMBOL_NAME, type Expr } from './expr.ts';
import { lexLine } from './lexer.ts';
import { MNEMONICS } from './mnemonics.ts';
import { reservedWord, VALID_CRS } from './registers.ts';

export type Operand =
  | { k: 'reg'; reg: number; name: string; col: number }
  | { k: 'reg8'; reg: number; name: string; col: number }
  | { k: 'cr'; cr: number; name: string; col: number }
  | { k: 'cs'; col: number }
  /** `[base ± disp]`, `[disp]` (base null: NOBASE, DESIGN §3.3), optionally `byte [...]`. */
  | { k: 'mem'; byte: boolean; base: number | null; disp: Expr | null; col: number }
  | { k: 'imm'; expr: Expr; col: number };

export type DbItem = { k: 'expr'; expr: Expr } | { k: 'str'; bytes: number[] };

export type Directive =
  | { k: 'org'; expr: Expr }
  | { k: 'equ'; name: string; nameCol: number; expr: Expr }
  | { k: 'dd'; exprs: Expr[] }
  | { k: 'db'; items: DbItem[] }
  | { k: 'zero'; expr: Expr }
  | { k: 'align'; expr: Expr }
  | { k: 'entry'; expr: Expr }
  /** `.include "FILE"`: expanded by assemble.ts before layout, never laid out itself. */
  | { k: 'include'; path: string; pathCol: number };

export type Statement =
  { k: 'insn'; mnemonic: string; col: number; operands: Operand[] } | { k: 'dir'; name: string; col: number; dir: Directive };

export interface Label {
  name: string;
  col: number;
}

export interface ParsedLine {
  where: Where;
  labels: Label[];
  stmt: Statement | null;
}

/**
 * Lines already parsed, by text: a parse is pure and its result never mutated, and
 * generated programs repeat the same few hundred lines of set-up in every case (the
 * property suite assembles thousands). Only successes are kept; bounded, so any input
 * stream fits.
 */
const parsed = new Map<string, Omit<ParsedLine, 'where'>>();
const MAX_PARSED = 50_000;

export function parseLine(src: string, where: Where): ParsedLine {
  const known = parsed.get(src);
  if (known !== undefined) return { where, labels: known.labels, stmt: known.stmt };
  const line = parseNew(src, where);
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(src, { labels: line.labels, stmt: line.stmt });
  return line;
}

function parseNew(src: string, where: Where): ParsedLine {
  const { tokens, endCol } = lexLine(src, where);
  const cur = new Cursor(tokens, where, endCol);
  const labels: Label[] = [];
  for (;;) {
    const t = cur.peek();
    if (t?.kind !== 'ident' || !cur.isPunct(':', 1)) break;
    checkSymbolName(cur, t.text, t.col);
    labels.push({ name: t.text, col: t.col });
    cur.next();
    cur.next();
  }
  if (cur.atEnd()) return { where, labels, stmt: null };
  const head = cur.next()!;
  if (head.kind !== 'ident') cur.fail(`expected an instruction, a directive or a label, found '${head.text}'`, head.col);
  const stmt: Statement = head.text.startsWith('.')
    ? { k: 'dir', name: head.text.toLowerCase(), col: head.col, dir: parseDirective(cur, head.text.toLowerCase(), head.col) }
    : { k: 'insn', mnemonic: head.text.toLowerCase(), col: head.col, operands: parseInsnOperands(cur, head.text, head.col) };
  if (!cur.atEnd()) cur.fail(`expected ',' or end of line, found ${cur.found()}`);
  return { where, labels, stmt };
}

function checkSymbolName(cur: Cursor, name: string, col: number): void {
  if (reservedWord(name) !== null) cur.fail(`'${name}' is a reserved word and cannot name a symbol`, col);
  if (!SYMBOL_NAME.test(name))
    cur.fail(`'${name}' is not a valid symbol name (letters, digits, '_' and '.', not first a digit or '.')`, col);
}

/** Comma-separated list of at least one item. */
function list<T>(cur: Cursor, item: () => T): T[] {
  const items = [item()];
  while (cur.isPunct(',')) {
    cur.next();
    items.push(item());
  }
  return items;
}

function parseDirective(cur: Cursor, name: string, col: number): Directive {
  const one = (): Expr => {
    const e = parseExpr(cur);
    if (cur.isPunct(',')) cur.fail(`'${name}' takes one argument`);
    if (!cur.atEnd()) cur.fail(`expected end of line, found ${cur.found()}`);
    return e;
  };
  switch (name) {
    case '.org':
      return { k: 'org', expr: one() };
    case '.zero':
      return { k: 'zero', expr: one() };
    case '.align':
      return { k: 'align', expr: one() };
    case '.entry':
      return { k: 'entry', expr: one() };
    case '.dd':
      return { k: 'dd', exprs: list(cur, () => parseExpr(cur)) };
    case '.db':
      return {
        k: 'db',
        items: list(cur, (): DbItem => {
          const t = cur.peek();
          if (t?.kind === 'str') {
            cur.next();
            return { k: 'str', bytes: t.bytes };
          }
          return { k: 'expr', expr: parseExpr(cur) };
        }),
      };
    case '.include': {
      const t = cur.next();
      if (t?.kind !== 'str')
        return cur.fail(
          `'.include' expects a file name in double quotes, found ${t === undefined ? 'end of line' : `'${t.text}'`}`,
          t?.col,
        );
      if (!cur.atEnd()) cur.fail(`expected end of line, found ${cur.found()}`);
      return { k: 'include', path: String.fromCharCode(...t.bytes), pathCol: t.col };
    }
    case '.equ': {
      const t = cur.next();
      if (t?.kind !== 'ident') return cur.fail(`'.equ' expects a name, found ${t === undefined ? 'end of line' : `'${t.text}'`}`, t?.col);
      checkSymbolName(cur, t.text, t.col);
      cur.expectPunct(',');
      return { k: 'equ', name: t.text, nameCol: t.col, expr: one() };
    }
    default:
      return cur.fail(`unknown directive '${name}' (known: .org .equ .dd .db .zero .align .entry .include)`, col);
  }
}

function parseInsnOperands(cur: Cursor, mnemonic: string, col: number): Operand[] {
  if (!MNEMONICS.has(mnemonic.toLowerCase())) cur.fail(`unknown instruction '${mnemonic}'`, col);
  return cur.atEnd() ? [] : list(cur, () => parseOperand(cur));
}

function parseOperand(cur: Cursor): Operand {
  const t = cur.peek();
  if (t === undefined) return cur.fail('expected an operand, found end of line');
  if (t.kind === 'punct' && t.text === '[') return parseMemory(cur, false, t.col);
  if (t.kind === 'ident') {
    const r = reservedWord(t.text);
    if (r !== null) {
      cur.next();
      switch (r.k) {
        case 'reg':
          return { k: 'reg', reg: r.reg, name: t.text, col: t.col };
        case 'reg8':
          return { k: 'reg8', reg: r.reg, name: t.text, col: t.col };
        case 'cr':
          if (!VALID_CRS.includes(r.cr)) cur.fail(`no control register '${t.text}' (VX32 has cr0 cr2 cr3 cr4)`, t.col);
          return { k: 'cr', cr: r.cr, name: t.text, col: t.col };
        case 'cs':
          return { k: 'cs', col: t.col };
        case 'byte':
          if (!cur.isPunct('[')) cur.fail(`expected '[' after 'byte', found ${cur.found()}`);
          return parseMemory(cur, true, t.col);
      }
    }
  }
  return { k: 'imm', expr: parseExpr(cur), col: t.col };
}

/** `[reg]`, `[reg + expr]`, `[reg - expr]` or `[expr]` (DESIGN §3.9); the cursor is at `[`. */
function parseMemory(cur: Cursor, byte: boolean, col: number): Operand {
  cur.expectPunct('[');
  const t = cur.peek();
  const r = t?.kind === 'ident' ? reservedWord(t.text) : null;
  let base: number | null = null;
  let disp: Expr | null = null;
  if (r !== null && t !== undefined) {
    if (r.k !== 'reg') cur.fail(`'${t.text}' cannot be a base register (use eax ecx edx ebx esp ebp esi edi)`, t.col);
    cur.next();
    base = r.reg;
    if (cur.isPunct('+')) {
      cur.next();
      disp = parseExpr(cur);
    } else if (cur.isPunct('-')) {
      // Parsed with the `-` as a unary minus, so `[eax - 4 + 1]` is eax + (-4 + 1).
      disp = parseExpr(cur);
    } else if (!cur.isPunct(']')) {
      cur.fail(`expected '+', '-' or ']', found ${cur.found()}`);
    }
  } else {
    disp = parseExpr(cur);
  }
  cur.expectPunct(']');
  return { k: 'mem', byte, base, disp, col };
}
