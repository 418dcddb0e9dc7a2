// Assembler errors for people (DESIGN §3.9: "Errors name the file, line and column and
// never print a stack trace"). The message is exactly `FILE:LINE:COL: detail`; the CLI
// adds the `popek: ` prefix (STYLE §8).

/** Where a statement lives: every error inside it needs only a column more. */
export interface Where {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** For a line of an `.include`d file: the `FILE:LINE` chain of the directives that pulled it in. */
  readonly includedFrom?: string;
}

export class AsmError extends Error {
  readonly file: string;
  readonly line: number;
  /** 1-based, in UTF-16 code units (a tab counts as one column). */
  readonly col: number;
  /** The message without its `FILE:LINE:COL: ` prefix. */
  readonly detail: string;

  constructor(file: string, line: number, col: number, detail: string) {
    super(`${file}:${line}:${col}: ${detail}`);
    this.name = 'AsmError';
    this.file = file;
    this.line = line;
    this.col = col;
    this.detail = detail;
  }
}

export function fail(where: Where, col: number, detail: string): never {
  throw new AsmError(
    where.file,
    where.line,
    col,
    where.includedFrom === undefined ? detail : `${detail} (included from ${where.includedFrom})`,
  );
}
