// `.include "FILE"` (DESIGN §3.9 as extended for saved counterexamples): the included
// lines assemble exactly as if pasted in place; errors name the included file's line and
// the line that included it; a file that includes itself, directly or not, is an error.

import { describe, expect, test } from 'vitest';
import { assemble, AsmError, type IncludeReader } from './assemble.ts';

/** An in-memory file system; paths resolve relative to the including file's folder. */
function reader(files: Record<string, string>): IncludeReader {
  return (path, from) => {
    const dir = from.includes('/') ? from.slice(0, from.lastIndexOf('/') + 1) : '';
    const file = path.startsWith('/') ? path : dir + path;
    const source = files[file];
    if (source === undefined) throw Object.assign(new Error(`no ${file}`), { code: 'ENOENT' });
    return { file, source };
  };
}

function errorOf(src: string, files: Record<string, string>, file = 'main.s'): string {
  try {
    assemble(src, file, { include: reader(files) });
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return (e as AsmError).message;
  }
  throw new Error('no error');
}

describe('.include', () => {
  test('the same bytes, symbols and entry as the text pasted in place', () => {
    const pre = '.equ N, 5\n.org 0x100\nstart: mov eax, N\n';
    const post = 'done: hlt\n.dd start, done\n';
    const inline = assemble(`${pre}body: inc eax\n${post}`, 'x.s');
    const split = assemble('.include "lib/pre.s"\nbody: inc eax\n.include "lib/post.s"\n', 'dir/main.s', {
      include: reader({ 'dir/lib/pre.s': pre, 'dir/lib/post.s': post }),
    });
    expect(split.image).toEqual(inline.image);
    expect(split.symbols).toEqual(inline.symbols);
    // By hand: mov eax, 5 at 0x100, inc eax at 0x108, hlt at 0x110, then .dd 0x100, 0x110.
    expect(split.symbols.get('done')).toBe(0x110);
  });

  test('a path is relative to the including file, also from a nested include', () => {
    const files = { 'a/b/inner.s': 'nop\n', 'a/mid.s': '.include "b/inner.s"\nhlt\n' };
    const { image } = assemble('.include "a/mid.s"\n', 'main.s', { include: reader(files) });
    expect([...image.chunks[0]!.bytes].filter((_, i) => i % 8 === 0)).toEqual([0x01, 0x02]); // nop, hlt (§3.3)
  });

  test('an error inside an included file names its line and the including line', () => {
    const msg = errorOf('nop\n  .include "lib.s"\n', { 'lib.s': 'nop\nmov exx, 1\n' });
    expect(msg).toBe("lib.s:2:5: unknown register 'exx' (included from main.s:2)");
  });

  test('a missing file names the including file, line and column', () => {
    expect(errorOf('nop\n  .include "gone.s"\n', {})).toBe("main.s:2:12: cannot include 'gone.s': ENOENT");
  });

  test('cycles are errors, direct or not', () => {
    expect(errorOf('.include "main.s"\n', { 'main.s': 'nop\n' })).toBe("main.s:1:10: 'main.s' would include itself: main.s -> main.s");
    const files = { 'a.s': '.include "b.s"\n', 'b.s': 'nop\n.include "a.s"\n' };
    expect(errorOf('.include "a.s"\n', files)).toBe(
      "b.s:2:10: 'a.s' would include itself: main.s -> a.s -> b.s -> a.s (included from a.s:1, main.s:1)",
    );
  });

  test('syntax: one quoted file name; without a reader it is an error', () => {
    expect(errorOf('.include lib.s\n', {})).toBe("main.s:1:10: '.include' expects a file name in double quotes, found 'lib.s'");
    expect(errorOf('.include "a.s", 1\n', { 'a.s': '' })).toBe("main.s:1:15: expected end of line, found ','");
    expect(() => assemble('.include "a.s"\n', 'main.s')).toThrow(/main\.s:1:1: '\.include' needs files/);
  });
});
