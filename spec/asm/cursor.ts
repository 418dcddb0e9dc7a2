// A read position in one line's tokens, shared by the statement and expression parsers.

import { fail, type Where } from './errors.ts';
import type { Punct, Token } from './lexer.ts';

export class Cursor {
  private i = 0;
  readonly where: Where;
  private readonly tokens: readonly Token[];
  private readonly endCol: number;

  constructor(tokens: readonly Token[], where: Where, endCol: number) {
    this.tokens = tokens;
    this.where = where;
    this.endCol = endCol;
  }

  peek(ahead = 0): Token | undefined {
    return this.tokens[this.i + ahead];
  }

  next(): Token | undefined {
    return this.tokens[this.i++];
  }

  atEnd(): boolean {
    return this.i >= this.tokens.length;
  }

  isPunct(p: Punct, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t !== undefined && t.kind === 'punct' && t.text === p;
  }

  /** Column of the next token, or of the end of the line. */
  col(): number {
    return this.peek()?.col ?? this.endCol;
  }

  /** The next token as a message names it. */
  found(): string {
    const t = this.peek();
    return t === undefined ? 'end of line' : `'${t.text}'`;
  }

  expectPunct(p: Punct): void {
    if (!this.isPunct(p)) this.fail(`expected '${p}', found ${this.found()}`);
    this.i++;
  }

  fail(detail: string, col = this.col()): never {
    return fail(this.where, col, detail);
  }
}
