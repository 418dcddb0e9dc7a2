// `popek explain` misuse (DESIGN §10): a bad input is a UsageError — one `popek: ...` line
// and exit 2 from main.ts — never a stack trace, and no page is written.

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { explainCommand } from '../../src/cli/explain.ts';
import { UsageError } from '../../src/cli/usage.ts';

const scratch = mkdtempSync(join(tmpdir(), 'popek-explain-cli-'));
const out = join(scratch, 'out.html');
const explain = (...args: string[]) => explainCommand([...args, '-o', out], () => {});

describe('popek explain: misuse', () => {
  test.each([
    [['missing.s'], /cannot read 'missing.s'/],
    [['examples/paging.s', '--engine', 'nope'], /unknown engine 'nope'/],
    [['examples/paging.s', '--bug', 'no-such-bug'], /unknown bug 'no-such-bug'/],
    [['examples/paging.s', '--engine', 'vmx-ept', '--bug', 'cr2-not-set'], /cr2-not-set is not a bug of vmx-ept/],
    [['examples/paging.s', '--max-steps', 'lots'], /--max-steps/],
    [['examples/paging.s', 'examples/hello.s'], /expected one FILE.s or REPLAY.json/],
  ])('%j', (args, message) => {
    expect(() => explain(...args)).toThrow(UsageError);
    expect(() => explain(...args)).toThrow(message);
    expect(existsSync(out)).toBe(false);
  });

  test('a JSON file that is not a counterexample', () => {
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, '{"hello": 1}');
    expect(() => explain(bad)).toThrow(/not a popek counterexample file/);
    expect(existsSync(out)).toBe(false);
  });
});
