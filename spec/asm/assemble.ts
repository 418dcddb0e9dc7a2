// The VX32 assembler (DESIGN §3.9, §3.10.16). Three steps:
//   1. parse every line and declare every name (so labels can be used before they appear);
//   2. lay out: give each statement an address and each label its value — sizes never
//      depend on symbols (instructions are 8 bytes, DESIGN §3.3), only .org, .zero and
//      .align values do, and those must be known at that point;
//   3. emit bytes, now that every symbol is known.
// Every failure is an AsmError pointing at the offending token.

import type { Image } from '../observation.ts';
import { fail, type Where } from './errors.ts';
import { evaluate } from './expr.ts';
import { MNEMONICS } from './mnemonics.ts';
import { parseLine, type ParsedLine, type Statement } from './parse.ts';
import { assembleInsn, type SelectContext } from './select.ts';
import { SymbolTable } from './symbols.ts';

export { AsmError } from './errors.ts';

const ADDRESS_LIMIT = 2 ** 32;
/** Far above any guest RAM popek runs (default 1 MiB); it keeps `.zero 0xFFFFFFFF` from exhausting the host. */
const MAX_IMAGE_BYTES = 64 * 1024 * 1024;

/** A run of bytes started by `.org` (or the start of the file, DESIGN §3.10.16: origin 0). */
interface Region {
  start: number;
  size: number;
  /** Where its `.org` is; null for the implicit region at the start of the file. */
  org: { where: Where; col: number } | null;
}

interface Placed {
  line: ParsedLine;
  stmt: Statement;
  region: number;
  offset: number;
}

interface Layout {
  regions: Region[];
  placed: Placed[];
  /** DESIGN §3.9: the default entry is the first instruction. */
  firstInsn: number | undefined;
  firstByte: number | undefined;
}

/**
 * How `.include "PATH"` finds a file: `PATH` as written and the file that includes it;
 * returns the included file's name (as errors will name it) and its text, or throws if
 * it cannot be read. The assembler reads no files itself, so the model stays pure; the
 * CLI passes one that resolves PATH relative to the including file.
 */
export type IncludeReader = (path: string, from: string) => { file: string; source: string };

export interface AssembleOptions {
  include?: IncludeReader;
}

/** Far deeper than any real program nests; a bound that also stops cycles a reader hides (e.g. via symlinks). */
const MAX_INCLUDE_DEPTH = 16;

export function assemble(
  source: string,
  file = '<input>',
  options: AssembleOptions = {},
): { image: Image; symbols: ReadonlyMap<string, number> } {
  const lines = parseFile(source, { file, line: 0 }, options.include, []);
  const symbols = new SymbolTable();
  for (const line of lines) {
    for (const label of line.labels) symbols.declareLabel(label.name, line.where, label.col);
    const stmt = line.stmt;
    if (stmt?.k === 'dir' && stmt.dir.k === 'equ') symbols.declareEqu(stmt.dir.name, stmt.dir.expr, line.where, stmt.dir.nameCol);
  }
  const layout = layOut(lines, symbols);
  checkOverlaps(layout.regions);
  const buffers = layout.regions.map((r) => new Uint8Array(r.size));
  let entry: { value: number; line: number } | undefined;
  // One context for every statement, pointed at each in turn (no closures per statement:
  // the property suite assembles thousands of programs).
  const ctx: SelectContext = {
    where: { file, line: 0 },
    isDefined: (name) => symbols.isDefined(name),
    evaluate: (e) => evaluate(e, symbols, ctx.where),
  };
  for (const p of layout.placed) {
    const where = p.line.where;
    ctx.where = where;
    const stmt = p.stmt;
    const buffer = buffers[p.region]!;
    if (stmt.k === 'insn') {
      buffer.set(assembleInsn(stmt.mnemonic, stmt.col, stmt.operands, MNEMONICS.get(stmt.mnemonic) ?? [], ctx), p.offset);
      continue;
    }
    const dir = stmt.dir;
    switch (dir.k) {
      case 'dd': {
        let at = p.offset;
        for (const e of dir.exprs) {
          const v = ctx.evaluate(e);
          buffer[at++] = v;
          buffer[at++] = v >>> 8;
          buffer[at++] = v >>> 16;
          buffer[at++] = v >>> 24;
        }
        break;
      }
      case 'db': {
        let at = p.offset;
        for (const item of dir.items) {
          if (item.k === 'str') {
            buffer.set(item.bytes, at);
            at += item.bytes.length;
          } else buffer[at++] = dbByte(ctx.evaluate(item.expr), where, item.expr.col);
        }
        break;
      }
      case 'equ':
        symbols.lookup(dir.name, where, dir.nameCol, 0);
        break;
      case 'entry':
        if (entry !== undefined) fail(where, stmt.col, `duplicate .entry (the first is on line ${entry.line})`);
        entry = { value: ctx.evaluate(dir.expr), line: where.line };
        break;
      case 'org':
      case 'zero':
      case 'align':
      case 'include': // expanded by parseFile
        break; // laid out in the first pass; the buffers start zeroed
    }
  }
  return {
    image: { chunks: chunksOf(layout.regions, buffers), entry: entry?.value ?? layout.firstInsn ?? layout.firstByte ?? 0 },
    symbols: symbols.values(),
  };
}

/**
 * Parse every line of `file`, splicing in the lines of each `.include`d file where its
 * directive stands (a label on that line stays, at the address where the included
 * lines start). `stack` holds the including files, to refuse cycles.
 */
function parseFile(source: string, at: Where, include: IncludeReader | undefined, stack: readonly Where[]): ParsedLine[] {
  const includedFrom =
    stack.length === 0
      ? undefined
      : stack
          .map((w) => `${w.file}:${w.line}`)
          .reverse()
          .join(', ');
  const out: ParsedLine[] = [];
  source.split('\n').forEach((text, i) => {
    const where: Where = includedFrom === undefined ? { file: at.file, line: i + 1 } : { file: at.file, line: i + 1, includedFrom };
    const line = parseLine(text, where);
    if (line.stmt?.k !== 'dir' || line.stmt.dir.k !== 'include') {
      out.push(line);
      return;
    }
    const { path, pathCol } = line.stmt.dir;
    if (include === undefined) fail(where, line.stmt.col, `'.include' needs files: assemble from a file (popek run FILE.s)`);
    let found: { file: string; source: string };
    try {
      found = include(path, at.file);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      return fail(where, pathCol, `cannot include '${path}': ${typeof code === 'string' ? code : (e as Error).message}`);
    }
    const chain = [...stack, where];
    const files = [...stack.map((w) => w.file), at.file];
    if (files.includes(found.file)) fail(where, pathCol, `'${path}' would include itself: ${[...files, found.file].join(' -> ')}`);
    if (chain.length > MAX_INCLUDE_DEPTH) fail(where, pathCol, `includes nested more than ${MAX_INCLUDE_DEPTH} deep`);
    out.push({ where, labels: line.labels, stmt: null });
    out.push(...parseFile(found.source, { file: found.file, line: 0 }, include, chain));
  });
  return out;
}

/** `.db` takes bytes written signed or unsigned: -128..255 (as u32: 0..0xFF or 0xFFFFFF80..). */
function dbByte(v: number, where: Where, col: number): number {
  if (v > 0xff && v < 0xffffff80) fail(where, col, `byte value ${v} out of range (-128..255)`);
  return v & 0xff;
}

function layOut(lines: readonly ParsedLine[], symbols: SymbolTable): Layout {
  const regions: Region[] = [{ start: 0, size: 0, org: null }];
  const placed: Placed[] = [];
  let pc = 0;
  let total = 0;
  let firstInsn: number | undefined;
  let firstByte: number | undefined;
  for (const line of lines) {
    const where = line.where;
    for (const label of line.labels) symbols.place(label.name, pc % ADDRESS_LIMIT);
    const stmt = line.stmt;
    if (stmt === null) continue;
    let size = 0;
    if (stmt.k === 'insn') {
      size = 8;
      firstInsn ??= pc;
    } else {
      const dir = stmt.dir;
      switch (dir.k) {
        case 'org':
          pc = evaluate(dir.expr, symbols, where);
          regions.push({ start: pc, size: 0, org: { where, col: stmt.col } });
          break;
        case 'dd':
          size = 4 * dir.exprs.length;
          break;
        case 'db':
          size = dir.items.reduce((n, item) => n + (item.k === 'str' ? item.bytes.length : 1), 0);
          break;
        case 'zero':
          size = evaluate(dir.expr, symbols, where);
          break;
        case 'align': {
          const n = evaluate(dir.expr, symbols, where);
          if (n === 0 || (n & (n - 1)) !== 0) fail(where, dir.expr.col, `alignment ${n} is not a power of two`);
          size = (n - (pc % n)) % n;
          break;
        }
        case 'equ':
        case 'entry':
        case 'include': // expanded by parseFile
          break;
      }
    }
    if (pc + size > ADDRESS_LIMIT) fail(where, stmt.col, 'this statement runs past address 0xFFFFFFFF');
    total += size;
    if (total > MAX_IMAGE_BYTES) fail(where, stmt.col, 'the image would exceed 64 MiB');
    if (size > 0) firstByte ??= pc;
    const region = regions.length - 1;
    placed.push({ line, stmt, region, offset: regions[region]!.size });
    regions[region]!.size += size;
    pc += size;
  }
  return { regions, placed, firstInsn, firstByte };
}

const hex = (n: number) => '0x' + n.toString(16);

/** DESIGN §3.10.16: overlapping `.org` regions are errors; reported at the later `.org`. */
function checkOverlaps(regions: readonly Region[]): void {
  const order = regions.map((r, i) => ({ r, i })).filter(({ r }) => r.size > 0);
  order.sort((x, y) => x.r.start - y.r.start || x.i - y.i);
  for (let k = 1; k < order.length; k++) {
    const prev = order[k - 1]!;
    const cur = order[k]!;
    if (prev.r.start + prev.r.size <= cur.r.start) continue;
    const [early, late] = prev.i < cur.i ? [prev.r, cur.r] : [cur.r, prev.r];
    const span = (r: Region) => `${hex(r.start)}..${hex(r.start + r.size - 1)}`;
    const from = early.org === null ? 'from the start of the file' : `from the .org on line ${early.org.where.line}`;
    // `late` has an .org: only the first region lacks one, and it is never the later.
    const at = late.org!;
    fail(at.where, at.col, `region ${span(late)} overlaps region ${span(early)} ${from}`);
  }
}

/** One chunk per contiguous run of bytes, sorted by address (adjacent regions merge). */
function chunksOf(regions: readonly Region[], buffers: readonly Uint8Array[]): Image['chunks'] {
  const parts = regions
    .map((r, i) => ({ addr: r.start, bytes: buffers[i]! }))
    .filter((p) => p.bytes.length > 0)
    .sort((x, y) => x.addr - y.addr);
  const chunks: Image['chunks'] = [];
  let run: { addr: number; bytes: Uint8Array[]; end: number } | undefined;
  const flush = () => {
    if (run !== undefined) chunks.push({ addr: run.addr, bytes: concat(run.bytes) });
  };
  for (const p of parts) {
    if (run !== undefined && run.end === p.addr) {
      run.bytes.push(p.bytes);
      run.end += p.bytes.length;
    } else {
      flush();
      run = { addr: p.addr, bytes: [p.bytes], end: p.addr + p.bytes.length };
    }
  }
  flush();
  return chunks;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
