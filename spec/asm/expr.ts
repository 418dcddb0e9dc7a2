// Assembler expressions (DESIGN §3.9, §3.10.16): C precedence — unary `- ~`; `* /`;
// `+ -`; `<< >>`; `&`; `^`; `|` — over numbers, character literals, labels and `.equ`
// names. Arithmetic is on unsigned 32-bit values, mod 2^32: `/` is unsigned, `>>` is
// logical, and a shift by 32 or more gives 0 (x·2^n mod 2^32). A value can only leave 32
// bits where it is written, so the range rule for `.dd` ([-2^31, 2^32)) is checked on
// literals: a number above 0xFFFFFFFF, or `-N` with N above 2^31, is an error anywhere.

import type { Cursor } from './cursor.ts';
import { fail, type Where } from './errors.ts';
import { reservedWord } from './registers.ts';

export type BinaryOp = '|' | '^' | '&' | '<<' | '>>' | '+' | '-' | '*' | '/';

export type Expr =
  | { k: 'num'; value: number; col: number }
  | { k: 'sym'; name: string; col: number }
  | { k: 'unary'; op: '-' | '~'; arg: Expr; col: number }
  | { k: 'binary'; op: BinaryOp; left: Expr; right: Expr; col: number };

/** Loosest first: index = precedence level, as in C. */
const LEVELS: readonly (readonly BinaryOp[])[] = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/']];

const U32_LIMIT = 1n << 32n;
const I32_MIN_MAGNITUDE = 1n << 31n;

/**
 * Recursion guards: parentheses and unary operators nest the parser, long operator
 * chains and `.equ` chains nest the evaluator. Past these the assembler says so instead
 * of overflowing the JavaScript stack (it must never throw anything but AsmError).
 */
const MAX_NESTING = 100;
const MAX_EVAL_DEPTH = 1000;

export const SYMBOL_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

export function parseExpr(cur: Cursor): Expr {
  return parseLevel(cur, 0, 0);
}

function parseLevel(cur: Cursor, level: number, nesting: number): Expr {
  if (level === LEVELS.length) return parseUnary(cur, nesting);
  let left = parseLevel(cur, level + 1, nesting);
  for (;;) {
    const t = cur.peek();
    const op = LEVELS[level]!.find((o) => t !== undefined && t.kind === 'punct' && t.text === o);
    if (op === undefined || t === undefined) return left;
    cur.next();
    const right = parseLevel(cur, level + 1, nesting);
    left = { k: 'binary', op, left, right, col: t.col };
  }
}

function parseUnary(cur: Cursor, nesting: number): Expr {
  if (nesting > MAX_NESTING) cur.fail('expression nested too deeply');
  const t = cur.peek();
  if (t === undefined) return cur.fail('expected an expression, found end of line');
  if (t.kind === 'punct' && (t.text === '-' || t.text === '~')) {
    cur.next();
    const operand = cur.peek();
    // `-N` written as a literal is where a negative value below -2^31 can appear.
    if (t.text === '-' && operand?.kind === 'num' && operand.value > I32_MIN_MAGNITUDE) {
      cur.fail(`-${operand.text} does not fit in 32 bits (allowed: -2^31 .. 2^32-1)`, t.col);
    }
    return { k: 'unary', op: t.text, arg: parseUnary(cur, nesting + 1), col: t.col };
  }
  cur.next();
  switch (t.kind) {
    case 'num':
      if (t.value >= U32_LIMIT) cur.fail(`number ${t.text} does not fit in 32 bits`, t.col);
      return { k: 'num', value: Number(t.value), col: t.col };
    case 'char':
      return { k: 'num', value: t.value, col: t.col };
    case 'ident': {
      const r = reservedWord(t.text);
      if (r !== null) {
        const what = r.k === 'byte' ? 'keyword' : r.k === 'cs' ? 'segment register' : 'register';
        cur.fail(`${what} '${t.text}' cannot be used in an expression`, t.col);
      }
      if (!SYMBOL_NAME.test(t.text)) cur.fail(`'${t.text}' is not a symbol name`, t.col);
      return { k: 'sym', name: t.text, col: t.col };
    }
    case 'str':
      return cur.fail('a string is only allowed in .db', t.col);
    case 'punct':
      if (t.text === '(') {
        const inner = parseLevel(cur, 0, nesting + 1);
        cur.expectPunct(')');
        return inner;
      }
      return cur.fail(`expected an expression, found '${t.text}'`, t.col);
  }
}

/** How an evaluation finds a symbol's value, or fails with an AsmError. */
export interface Scope {
  lookup(name: string, where: Where, col: number, depth: number): number;
}

/** The value of `e`, an unsigned 32-bit number. */
export function evaluate(e: Expr, scope: Scope, where: Where, depth = 0): number {
  if (depth > MAX_EVAL_DEPTH) fail(where, e.col, 'expression nested too deeply');
  switch (e.k) {
    case 'num':
      return e.value;
    case 'sym':
      return scope.lookup(e.name, where, e.col, depth + 1);
    case 'unary': {
      const v = evaluate(e.arg, scope, where, depth + 1);
      return (e.op === '-' ? -v : ~v) >>> 0;
    }
    case 'binary': {
      const l = evaluate(e.left, scope, where, depth + 1);
      const r = evaluate(e.right, scope, where, depth + 1);
      switch (e.op) {
        case '|':
          return (l | r) >>> 0;
        case '^':
          return (l ^ r) >>> 0;
        case '&':
          return (l & r) >>> 0;
        case '<<':
          return r >= 32 ? 0 : (l << r) >>> 0;
        case '>>':
          return r >= 32 ? 0 : l >>> r;
        case '+':
          return (l + r) >>> 0;
        case '-':
          return (l - r) >>> 0;
        case '*':
          return Math.imul(l, r) >>> 0;
        case '/':
          if (r === 0) fail(where, e.col, 'division by zero');
          return Math.floor(l / r);
      }
    }
  }
}
