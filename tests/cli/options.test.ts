// The command line made for people (issue 14.6–8), run in this process through main()
// with stdout and stderr captured: the same code path as bin/popek.js without a node
// start per case (the subprocess tests in cli.test.ts cover the binary itself).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { expectUsageError, popek } from './in-process.ts';

const scratch = mkdtempSync(join(tmpdir(), 'popek-opt-'));
const file = (name: string, text: string) => {
  const p = join(scratch, name);
  writeFileSync(p, text);
  return p;
};

describe('the command line (issue 14.8)', () => {
  test('numbers out of range name the flag and the range; never the parser, never a wrap', async () => {
    const hello = 'examples/hello.s';
    expectUsageError(await popek('check', '--seed', '-5'), /^popek: --seed: -5 is out of range \(a whole number from 0 to 4294967295\)$/m);
    expectUsageError(await popek('check', '--seed', '99999999999999'), /^popek: --seed: 99999999999999 is out of range/);
    expectUsageError(await popek('check', '--runs', '-1'), /^popek: --runs: -1 is out of range \(a whole number from 1 to/);
    expectUsageError(await popek('run', hello, '--ram', '-4K'), /^popek: --ram: '-4K' is not a size .*from 4K to/);
    expectUsageError(
      await popek('run', hello, '--max-steps', '1e30'),
      /^popek: --max-steps: '1e30' is not a whole number from 0 to 4294967295$/m,
    );
    expectUsageError(await popek('run', hello, '--max-steps'), /^popek: --max-steps needs a value \(see popek run --help\)$/m);
  });

  test("an unknown option points at the command's help; --version prints the package version", async () => {
    expectUsageError(await popek('run', 'examples/hello.s', '--x'), /^popek: unknown option --x \(see popek run --help\)$/m);
    expectUsageError(await popek('check', '--frob'), /^popek: unknown option --frob \(see popek check --help\)$/m);
    const v = await popek('--version');
    expect(v.code).toBe(0);
    expect(v.stdout).toBe('popek 0.1.0\n'); // package.json "version"
  });

  test('a flag that does not apply is an error, not ignored', async () => {
    expectUsageError(await popek('check', '--stats', '--bug', 'popf-no-shadow-if'), /^popek: --bug does not apply with --stats$/m);
    expectUsageError(await popek('check', '--list-bugs', '--runs', '5'), /^popek: --runs does not apply with --list-bugs$/m);
    expectUsageError(await popek('run', 'examples/hello.s', '--bug', 'popf-no-shadow-if'), /is a switch of vmx-shadow, not of spec/);
  });

  test('an events file naming a gpa outside guest RAM is an error at load', async () => {
    const events = file('far.events.json', '[{"at": 1, "kind": "swap-out", "gpa": 8192}]');
    expectUsageError(
      await popek('run', 'examples/hello.s', '--ram', '8K', '--events', events),
      /event 0: gpa 0x2000 is outside guest RAM \(0 to 0x1fff\)/,
    );
    expect((await popek('run', 'examples/hello.s', '--ram', '12K', '--events', events, '--quiet')).code).toBe(0);
  });
});

describe('popek run says how the guest ended (issue 14.7)', () => {
  test('halted, shut down, out of steps; --quiet says nothing', async () => {
    expect((await popek('run', 'examples/hello.s')).stderr).toMatch(/^popek run: the guest halted after \d+ instructions, eip 0x[0-9a-f]+/);
    // Zeroed memory is #UD and the IDT limit is 0 at reset: #UD's gate is out of bounds →
    // #GP; the #GP's → #GP, contributory twice → #DF; the #DF's → #GP: shutdown (DESIGN §3.7).
    expect((await popek('run', file('zero2.s', '.zero 8\n'))).stderr).toBe(
      'popek run: the guest shut down by a triple fault after 0 instructions, eip 0x0: #UD → #GP → #DF → #GP' +
        ' (each arrow: a fault raised while delivering the event before it, or the #DF it became)\n',
    );
    const loop = await popek('run', file('loop2.s', 'l: jmp l\n'), '--max-steps', '7');
    expect(loop.code).toBe(0);
    expect(loop.stderr).toBe(
      'popek run: the step budget (--max-steps 7) is used up after 7 instructions, eip 0x0; the guest was still running\n',
    );
    expect((await popek('run', 'examples/hello.s', '--quiet')).stderr).toBe('');
  });
});

describe('popek check --list-bugs (issue 14.6)', () => {
  test('--json and --engine filter', async () => {
    const all = JSON.parse((await popek('check', '--list-bugs', '--json')).stdout) as {
      name: string;
      engines: string[];
      description: string;
    }[];
    const native = JSON.parse((await popek('check', '--list-bugs', '--json', '--engine', 'native')).stdout) as typeof all;
    expect(native.length).toBeGreaterThan(0);
    expect(native.length).toBeLessThan(all.length);
    expect(native.every((b) => b.engines.includes('native') && b.description.length > 0)).toBe(true);
    expect(all.filter((b) => b.engines.includes('native'))).toEqual(native);
  });
});
