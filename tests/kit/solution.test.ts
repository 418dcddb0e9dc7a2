// The kit's solution (issue 16 item 5): tests/kit/fixtures/solution/vmm.ts, a shadow-paging
// VMM written only against popek/engine, popek/hw and popek/host, passes every stage of
// the kit's README with the command the README gives for it — so neither the public API
// nor the stages can drift from what a student is asked to build. Small campaigns keep
// this cheap; a longer one is `popek check --engine tests/kit/fixtures/solution/vmm.ts
// --guests STAGE --runs 400`.
//
// That a passing campaign means something: each stage's guests catch the solution with one
// mistake of that stage switched on (its `bugs` export), on counterexamples `popek check`
// found and shrank, kept in fixtures/solution/regressions/. The verdict is the reference
// model's (the lockstep differ), not a value read off the solution.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { popek } from '../cli/in-process.ts';

const fixtures = new URL('fixtures/solution/', import.meta.url).pathname;
const solution = join(fixtures, 'vmm.ts');
const regressions = join(fixtures, 'regressions');
/** Where a failing campaign would save its counterexample (never the working directory). */
const out = mkdtempSync(join(tmpdir(), 'popek-solution-'));

test.each([['physical'], ['paging'], ['tracing'], ['swap'], ['mmio']])(
  'the solution passes stage %s (popek check --engine SOLUTION --guests STAGE)',
  async (stage) => {
    const r = await popek('check', '--engine', solution, '--guests', stage, '--runs', '20', '--workers', '1', '--out', out);
    expect(r.stdout).toMatch(/vmm\.ts: equivalence: ok after 20 runs/);
    expect(r.code).toBe(0);
  },
  60_000,
);

test("the solution's own audit (DESIGN §6.13) holds after every step of generated guests of every stage", async () => {
  const r = await popek('check', '--engine', solution, '--property', 'audit', '--runs', '20', '--workers', '1', '--out', out);
  expect(r.stdout).toMatch(/vmm\.ts: audit: ok after 20 runs/);
  expect(r.code).toBe(0);
});

test.each([
  ['tracing', 'no-write-protect', []],
  ['swap', 'no-rmap-on-swap', ['--events', join(regressions, 'swap.events.json')]],
])('stage %s has teeth: its counterexample passes on the solution and diverges with --bug %s', async (stage, bug, events) => {
  const args = ['diff', join(regressions, `${stage}.s`), '--engine', solution, '--ram', '128K', '--max-steps', '256', ...events];
  const ok = await popek(...args);
  expect(ok.stdout).toMatch(/^equivalent: spec and .*vmm\.ts agree on all \d+ steps/);
  expect(ok.code).toBe(0);
  const bad = await popek(...args, '--bug', bug);
  expect(bad.stdout).toMatch(/first divergence at step \d+/);
  expect(bad.code).toBe(1);
});

test("the kit is the solution minus its exercises: every method of the starter VMM is one of the solution's", () => {
  /** The methods of a VMM class: members at the class's indentation, `name(` or `private name(`. */
  const methods = (file: string) => new Set([...readFileSync(file, 'utf8').matchAll(/^ {2}(?:private )?(\w+)\(/gm)].map((m) => m[1]!));
  const kit = methods(new URL('../../src/kit/vmm.ts', import.meta.url).pathname);
  const done = methods(solution);
  expect(kit.size).toBeGreaterThan(20);
  expect([...kit].filter((m) => !done.has(m))).toEqual([]);
  // What the solution adds are the exercises' own parts: the walk's guest-memory access (paging),
  // tracing (traced, tableWritten, endGrants: the one-step grants, also MMIO's), swap (migrate,
  // unmapFrame, forgetSpte: the rmap), and the guide's optional audit (audit, tablesResident).
  expect([...done].filter((m) => !kit.has(m)).sort()).toEqual(
    [
      'audit',
      'endGrants',
      'forgetSpte',
      'migrate',
      'read32',
      'readGpa32',
      'tableWritten',
      'tablesResident',
      'traced',
      'unmapFrame',
      'writeGpa32',
    ].sort(),
  );
});
