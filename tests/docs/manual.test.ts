// The VX32 manual (docs/vx32.md) against the model it describes, and the repository's
// promise to stand alone (issue 14, item 9): every mnemonic the assembler knows is
// documented, the manual's opcode map says what the encoding table says, and no file
// sends a reader to a path outside the repository.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import { MNEMONICS } from '../../spec/asm/mnemonics.ts';
import { OPCODES } from '../../spec/isa.ts';
import { runSpec } from '../../spec/machine.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const manual = readFileSync(join(root, 'docs/vx32.md'), 'utf8');
const lines = manual.split('\n');
/** The manual's ```asm blocks: examples a reader may paste into `popek run`. */
const asmBlocks = [...manual.matchAll(/^```asm\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

/**
 * The first word of every code span in a heading or a table row: what the manual
 * documents as an instruction (`add a, b` documents `add`; a row `jb` `jc` `jnae`
 * documents all three). A mnemonic named only in running prose does not count.
 */
function documentedWords(text: readonly string[]): Set<string> {
  const words = new Set<string>();
  for (const line of text) {
    if (!/^(#{1,6} |\|)/.test(line)) continue;
    for (const span of line.matchAll(/`([^`]+)`/g)) {
      const word = /^[a-z][a-z0-9]*\b/i.exec(span[1]!.trim());
      if (word !== null) words.add(word[0].toLowerCase());
    }
  }
  return words;
}

/** Rows of the manual's opcode map (its §3.4): `| 2A | \`and a, imm\` | ...`, or `| 5A | — (#UD...) |`. */
function opcodeMapRows(text: readonly string[]): Map<number, string | null> {
  const start = text.findIndex((l) => /^### 3\.4 Opcode map/.test(l));
  const rows = new Map<number, string | null>();
  for (let i = start + 1; i < text.length && !/^#{1,3} /.test(text[i]!); i++) {
    const m = /^\| ([0-9A-F]{2}) \| (?:`([^`]+)`|—)/.exec(text[i]!);
    if (m !== null) rows.set(parseInt(m[1]!, 16), m[2] ?? null);
  }
  return rows;
}

/** The manual's placeholders (a, b, a8, imm, [m], crN) turned into one concrete instance. */
function instantiate(form: string): string {
  return form
    .replace(/\[m\]/g, '[ecx + 16]')
    .replace(/\ba8\b/g, 'al')
    .replace(/\bcrN\b/g, 'cr3')
    .replace(/\bimm\b/g, '16')
    .replace(/\ba\b/g, 'eax')
    .replace(/\bb\b/g, 'ecx');
}

describe('docs/vx32.md documents the instruction set', () => {
  test('every mnemonic of the assembler, aliases included, is a heading or table row of the manual', () => {
    // A check over an empty list would pass: the table has the base set and the jcc aliases.
    expect(MNEMONICS.size).toBeGreaterThan(60);
    expect(MNEMONICS.has('jnae')).toBe(true);
    const documented = documentedWords(lines);
    const missing = [...MNEMONICS.keys()].filter((m) => !documented.has(m));
    expect(missing, `mnemonics the assembler knows but docs/vx32.md does not document: ${missing.join(' ')}`).toEqual([]);
  });

  test('the opcode map lists every opcode, and each row assembles to its own opcode', () => {
    const rows = opcodeMapRows(lines);
    for (let op = 0; op < 256; op++) {
      const row = rows.get(op);
      const hex = op.toString(16).toUpperCase().padStart(2, '0');
      if (OPCODES[op] === undefined) {
        // Undefined opcodes either have a "—" row or are left out (they are listed in prose).
        expect(row ?? null, `opcode ${hex} is undefined, yet the map gives it an instruction`).toBeNull();
        continue;
      }
      expect(row, `opcode ${hex} (${OPCODES[op]!.mnemonic}) has no row in the opcode map`).toBeDefined();
      const source = instantiate(row!);
      const bytes = assemble(source + '\n', 'opcode-map').image.chunks[0]!.bytes;
      expect(bytes[0], `the map says \`${row!}\` is opcode ${hex}, but \`${source}\` assembles to ${bytes[0]!.toString(16)}`).toBe(op);
    }
  });

  test('the undefined opcodes the manual lists in prose are exactly those the decoder rejects', () => {
    const prose = lines.find((l) => l.startsWith('Undefined (#UD):'));
    expect(prose).toBeDefined();
    const listed = new Set<number>();
    // The list may continue on the next line; it ends at the first full stop.
    const text = lines
      .slice(lines.indexOf(prose!), lines.indexOf(prose!) + 3)
      .join(' ')
      .split('.')[0]!;
    for (const m of text.matchAll(/`([0-9A-F]{2})`(?:–`([0-9A-F]{2})`)?/g)) {
      const lo = parseInt(m[1]!, 16);
      const hi = m[2] === undefined ? lo : parseInt(m[2], 16);
      for (let op = lo; op <= hi; op++) listed.add(op);
    }
    // OPCODES has holes where opcodes are undefined, so walk the indices, not the entries.
    const undefinedOps = Array.from({ length: 256 }, (_, op) => op).filter((op) => OPCODES[op] === undefined);
    expect([...listed].sort((x, y) => x - y)).toEqual(undefinedOps);
  });

  test('every section the manual refers to (§N, §N.M, #anchor) exists', () => {
    // Section numbers of the headings: `## 6. Paging` is 6, `### 6.4 Permissions` is 6.4.
    const sections = new Set(lines.flatMap((l) => /^#{2,3} (\d+(?:\.\d+)?)\.? /.exec(l)?.slice(1, 2) ?? []));
    expect(sections.has('6.4')).toBe(true);
    const appendix = lines.findIndex((l) => l.startsWith('## Appendix A'));
    expect(appendix).toBeGreaterThan(0);
    // Before the appendix every § is the manual's own; in the appendix's rows, only the right-hand column is.
    const ownText = [...lines.slice(0, appendix), ...lines.slice(appendix).map((l) => (l.startsWith('|') ? (l.split('|')[2] ?? '') : ''))];
    const refs = ownText.flatMap((l) => [...l.matchAll(/§(\d+(?:\.\d+)?)/g)].map((m) => m[1]!));
    expect(refs.length).toBeGreaterThan(50);
    expect(refs.filter((r) => !sections.has(r))).toEqual([]);
    // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    const anchors = new Set(
      lines.flatMap((l) => {
        const h = /^#{1,6} (.*)$/.exec(l);
        return h === null
          ? []
          : [
              h[1]!
                .toLowerCase()
                .replace(/[^\p{L}\p{N} _-]/gu, '')
                .replace(/ /g, '-'),
            ];
      }),
    );
    const links = [...manual.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((a) => !anchors.has(a))).toEqual([]);
  });

  test('the assembly examples of the manual assemble', () => {
    expect(asmBlocks.length).toBeGreaterThanOrEqual(4);
    for (const block of asmBlocks) expect(() => assemble(block, 'docs/vx32.md')).not.toThrow();
  });
});

test("the manual's popf example shows what its §5.7 says", () => {
  const block = asmBlocks.find((b) => b.includes('tries to clear IF with popf'));
  expect(block).toBeDefined();
  const o = runSpec(assemble(block!, 'docs/vx32.md').image, { ramBytes: 1 << 20 }, [], 50);
  // By hand (manual §5.7): at cpl 1 with IOPL 0, popf keeps IF = 1 without a fault; pushf then shows 0x202.
  expect(o.trace).toEqual([]);
  expect(o.cpl).toBe(1);
  expect(o.regs.eax).toBe(0x202);
});

test("the manual's #PF example raises the error code its §6.6 gives", () => {
  const block = asmBlocks.find((b) => b.includes('PG | WP | PE'));
  expect(block).toBeDefined();
  const { image, symbols } = assemble(block!, 'docs/vx32.md');
  const o = runSpec(image, { ramBytes: 1 << 20 }, [], 2000);
  // By hand (manual §6.4, §6.6): a supervisor write to a present read-only page with WP = 1 is a
  // protection fault, P = 1 and W = 1, U = 0; CR2 is the address written; the saved eip is the store's.
  // icount: 4 instructions, 256 turns of the 5-instruction fill loop, 8 more before the store.
  expect(o.trace).toEqual([{ icount: 1292, kind: 'exception', vector: 14, errorCode: 0x3, cr2: 0x5004, eip: symbols.get('fault') }]);
  expect(o.cr2).toBe(0x5004);
  expect(o.status).toBe('halted');
});

// Written as escaped patterns so that this file does not match itself.
const OUTSIDE = [/\.\.\/shared/, /\/work\/shared/];
/** Not part of the repository: installed, generated or git's own. */
const SKIP_DIRS = new Set(['node_modules', '.git', 'reports', '.stryker-tmp', 'popek-replays']);

function* repositoryFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* repositoryFiles(join(dir, entry.name));
    } else if (entry.isFile()) {
      yield join(dir, entry.name);
    }
  }
}

test('no file of the repository points a reader outside it (to the design notes beside it)', () => {
  const files = [...repositoryFiles(root)].map((f) => relative(root, f));
  // A walk that found nothing would pass.
  expect(files).toEqual(expect.arrayContaining(['README.md', 'package.json', 'docs/vx32.md', 'spec/machine.ts', 'spec/asm/README.md']));
  const offenders: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(root, file));
    if (text.includes(0)) continue; // binary
    const lineList = text.toString('utf8').split('\n');
    lineList.forEach((line, i) => {
      if (OUTSIDE.some((re) => re.test(line))) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  expect(offenders.join('\n')).toBe('');
});
