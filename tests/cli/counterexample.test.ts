// What popek check prints and saves for a counterexample (issue 14.1–3): a report that
// fits a screen, files that are never overwritten, and a printed command that
// reproduces the divergence exactly.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { BUG_CATALOG } from '../../src/engines/registry.ts';
import { saveCounterexample } from '../../src/cli/save.ts';
import { briefBody, type Found } from '../../properties/check/counterexample.ts';

const root = new URL('../../', import.meta.url).pathname;
const popek = (...args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/popek.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const scratch = mkdtempSync(join(tmpdir(), 'popek-cx-'));

describe('popek check --bug', { timeout: 120_000 }, () => {
  const out = join(scratch, 'replays');
  let r: ReturnType<typeof popek>;
  // popf-no-shadow-if diverges in the first case (IF forced on at the first entry).
  beforeAll(() => {
    r = popek('check', '--bug', 'popf-no-shadow-if', '--workers', '1', '--out', out);
  });

  test('a short report: header with the bug explained, the body only, the differing fields', () => {
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split('\n').length).toBeLessThanOrEqual(40);
    expect(r.stdout).toMatch(
      /^counterexample: equivalence on vmx-shadow, seed 20261125: after \d+ runs and \d+ shrink steps, \d+ body instructions$/m,
    );
    expect(r.stdout).toContain(`bug popf-no-shadow-if: ${BUG_CATALOG['popf-no-shadow-if']!.description}\n`);
    expect(r.stdout).toMatch(/^body:$/m);
    expect(r.stdout).not.toMatch(/h_pf:|\.org IDT|lidt/); // the set-up stays in the included files
    expect(r.stdout).toMatch(/^\* eflags +0x2 +0x202$/m); // IF (bit 9) forced on: DESIGN §3.1 reset eflags is 0x2
    expect(r.stdout).not.toMatch(/^ {2}regs\.eax/m); // equal fields are not shown
  });

  test('the printed command reproduces the printed divergence; the .s includes its set-up', () => {
    const command = /^reproduce: popek (diff .*)$/m.exec(r.stdout)![1]!.split(' ');
    expect(command).toEqual(expect.arrayContaining(['--engine', 'vmx-shadow', '--bug', 'popf-no-shadow-if', '--ram', '--max-steps']));
    const again = popek(...command);
    expect(again.code).toBe(1);
    const printed = r.stdout.slice(r.stdout.indexOf('first divergence'), r.stdout.indexOf('\n\n(--verbose'));
    expect(again.stdout.trimEnd()).toBe(printed);
    expect(readFileSync(command[1]!, 'utf8')).toMatch(/^\.include "prelude-[0-9a-f]{8}\.s"/m);
  });

  test('replay --verbose prints the whole program and every field', () => {
    const file = /^saved: (\S+\.json) /m.exec(r.stdout)![1]!;
    const v = popek('replay', file, '--verbose');
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^h_pf:$/m);
    expect(v.stdout).toMatch(/^ {2}regs\.eax +0x0 +0x0$/m);
  });
});

describe('saving', () => {
  const found: Found = {
    popek: 'counterexample',
    version: 1,
    property: 'equivalence',
    engine: 'native',
    bugs: ['sti-shadow-ignored'],
    seed: 1,
    path: '0',
    source: 'nop\nhlt\n',
    events: [{ at: 1, kind: 'irq', vector: 32 }],
    ramBytes: 8192,
    maxSteps: 10,
    instructions: 2,
    divergence: 'x',
    campaignSeed: 7,
    chunk: 0,
  };

  test('a file holding other content is never overwritten; equal content is not duplicated', () => {
    const dir = join(scratch, 'save');
    const first = saveCounterexample(dir, found);
    expect(first.replayPath).toMatch(/native-equivalence-sti-shadow-ignored-7-0-[0-9a-f]{8}\.json$/);
    expect(saveCounterexample(dir, found).replayPath).toBe(first.replayPath);
    writeFileSync(first.eventsPath!, '[]\n'); // someone edited it
    const second = saveCounterexample(dir, found);
    expect(second.replayPath).toBe(first.replayPath.replace(/\.json$/, '-2.json'));
    expect(readFileSync(first.eventsPath!, 'utf8')).toBe('[]\n');
    expect(second.command).toBe(
      `popek diff ${second.sPath} --engine native --bug sti-shadow-ignored --ram 8K --max-steps 10 --events ${second.eventsPath}`,
    );
    expect(JSON.parse(readFileSync(second.eventsPath!, 'utf8'))).toEqual(found.events);
  });

  test('a failure of another property is reproduced by popek replay, which checks that property', () => {
    const saved = saveCounterexample(join(scratch, 'audit'), { ...found, property: 'audit', engine: 'vmx-shadow', bugs: [] });
    expect(saved.command).toBe(`popek replay ${saved.replayPath}`);
  });

  test('two bug sets, the same seed and chunk: two names', () => {
    const dir = join(scratch, 'two');
    saveCounterexample(dir, found);
    saveCounterexample(dir, { ...found, bugs: ['tlb-no-flush-on-cr3'] });
    expect(readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.events.json'))).toHaveLength(2);
  });
});

test('a report leaves out the labels nothing refers to, and only those', () => {
  const body = [
    'body:',
    '; ---- p0: a branch',
    'p0:',
    '    jz p0_taken',
    '    jmp p0_end',
    'p0_taken:',
    'p0_end:',
    '; ---- p1: p1_end in a comment',
    'p1:',
    '    nop',
    'p1_end:',
    'body_end:',
  ];
  expect(briefBody(body)).toEqual([
    'body:',
    '; ---- p0: a branch',
    '    jz p0_taken',
    '    jmp p0_end',
    'p0_taken:',
    'p0_end:',
    '; ---- p1: p1_end in a comment',
    '    nop',
  ]);
});
