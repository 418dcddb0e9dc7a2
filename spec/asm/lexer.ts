// Tokens of one source line (DESIGN §3.9: one statement per line, `;` comments).
// Literals are decoded here — numbers (decimal, 0x, 0b), character literals and strings
// with the escapes of DESIGN §3.10.16 — so that the parser only sees values.

import { fail, type Where } from './errors.ts';

export type Punct = ',' | ':' | '[' | ']' | '(' | ')' | '+' | '-' | '*' | '/' | '&' | '|' | '^' | '~' | '<<' | '>>';

export type Token =
  | { kind: 'ident'; text: string; col: number }
  /** Exact value (a bigint) so that the parser can reject numbers that do not fit in 32 bits. */
  | { kind: 'num'; text: string; col: number; value: bigint }
  | { kind: 'char'; text: string; col: number; value: number }
  | { kind: 'str'; text: string; col: number; bytes: number[] }
  | { kind: 'punct'; text: Punct; col: number };

export interface LexedLine {
  tokens: Token[];
  /** The column just after the last token: where "expected …, found end of line" points. */
  endCol: number;
}

const SINGLE_PUNCT: ReadonlySet<string> = new Set([',', ':', '[', ']', '(', ')', '+', '-', '*', '/', '&', '|', '^', '~']);
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)$/;

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f';
const isIdentStart = (c: string) => /^[A-Za-z_.]$/.test(c);
const isIdentChar = (c: string) => /^[A-Za-z0-9_.]$/.test(c);

/** How a character is named in a message: itself if printable ASCII, else U+XXXX. */
function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code > 0x20 && code < 0x7f ? `'${c}'` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

export function lexLine(src: string, where: Where): LexedLine {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const col = i + 1;
    if (c === ';') break;
    if (isSpace(c)) {
      i++;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < src.length && isIdentChar(src[j]!)) j++;
      tokens.push({ kind: 'ident', text: src.slice(i, j), col });
      i = j;
    } else if (c >= '0' && c <= '9') {
      // Take the whole alphanumeric run so that `12ab` or `0x` is one bad number, not two tokens.
      let j = i + 1;
      while (j < src.length && isIdentChar(src[j]!)) j++;
      const text = src.slice(i, j);
      if (!NUMBER.test(text)) fail(where, col, `invalid number '${text}'`);
      tokens.push({ kind: 'num', text, col, value: BigInt(text) });
      i = j;
    } else if (c === '"') {
      const bytes: number[] = [];
      let j = i + 1;
      for (;;) {
        if (j >= src.length) fail(where, col, 'unterminated string');
        if (src[j] === '"') break;
        const ch = readChar(src, j, where, 'string');
        bytes.push(ch.value);
        j = ch.next;
      }
      tokens.push({ kind: 'str', text: src.slice(i, j + 1), col, bytes });
      i = j + 1;
    } else if (c === "'") {
      if (i + 1 >= src.length) fail(where, col, 'unterminated character literal');
      if (src[i + 1] === "'") fail(where, col, 'empty character literal');
      const ch = readChar(src, i + 1, where, 'character literal');
      if (src[ch.next] !== "'") fail(where, col, 'a character literal holds exactly one character');
      tokens.push({ kind: 'char', text: src.slice(i, ch.next + 1), col, value: ch.value });
      i = ch.next + 1;
    } else if ((c === '<' || c === '>') && src[i + 1] === c) {
      tokens.push({ kind: 'punct', text: c === '<' ? '<<' : '>>', col });
      i += 2;
    } else if (SINGLE_PUNCT.has(c)) {
      tokens.push({ kind: 'punct', text: c as Punct, col });
      i++;
    } else {
      fail(where, col, `unexpected character ${showChar(c)}`);
    }
  }
  const last = tokens[tokens.length - 1];
  return { tokens, endCol: last === undefined ? 1 : last.col + last.text.length };
}

/**
 * One character of a string or character literal at src[i], escapes decoded
 * (DESIGN §3.10.16: `\n \t \0 \\ \" \xNN`; `\'` too, so that a quote can be a
 * character literal). Characters are bytes: code points above 0xFF are refused rather
 * than UTF-8 encoded, matching the console's "one code point per byte" (DESIGN §3.10.14).
 */
function readChar(src: string, i: number, where: Where, what: string): { value: number; next: number } {
  const c = src[i]!;
  if (c !== '\\') {
    const code = c.charCodeAt(0);
    if (code > 0xff) fail(where, i + 1, `${showChar(c)} is not a byte; write it as \\xNN`);
    return { value: code, next: i + 1 };
  }
  const e = src[i + 1];
  switch (e) {
    case undefined:
      return fail(where, i + 1, `unterminated ${what}`);
    case 'n':
      return { value: 10, next: i + 2 };
    case 't':
      return { value: 9, next: i + 2 };
    case '0':
      return { value: 0, next: i + 2 };
    case '\\':
      return { value: 0x5c, next: i + 2 };
    case '"':
      return { value: 0x22, next: i + 2 };
    case "'":
      return { value: 0x27, next: i + 2 };
    case 'x': {
      const hex = src.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail(where, i + 1, '\\x needs exactly two hex digits');
      return { value: parseInt(hex, 16), next: i + 4 };
    }
    default:
      return fail(where, i + 1, `unknown escape '\\${e}' (known: \\n \\t \\0 \\\\ \\" \\' \\xNN)`);
  }
}
