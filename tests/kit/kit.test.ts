// The starter kit (issue 16 item 5): `popek init-vmm DIR` writes a VMM that a student's
// project — where `popek` is a dependency — type-checks and loads, that runs paging-off
// guests exactly as the spec does, and that fails as soon as a guest turns paging on
// (the first exercise), with a short counterexample. The solution, which passes every
// stage, is tested beside it (solution.test.ts).

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { popek } from '../cli/in-process.ts';

const root = new URL('../../', import.meta.url).pathname;

/** A student's project: popek installed as a dependency (a link to this checkout), the kit in `my-vmm/`. */
const project = mkdtempSync(join(tmpdir(), 'popek-kit-'));
mkdirSync(join(project, 'node_modules'));
symlinkSync(root, join(project, 'node_modules', 'popek'), 'dir');
const dir = join(project, 'my-vmm');
const vmm = join(dir, 'vmm.ts');

test('init-vmm writes vmm.ts and README.md, and never overwrites them', async () => {
  const r = await popek('init-vmm', dir);
  expect(r.code).toBe(0);
  expect(readFileSync(vmm, 'utf8')).toBe(readFileSync(join(root, 'src/kit/vmm.ts'), 'utf8'));
  expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/--guests physical/);
  const again = await popek('init-vmm', dir);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/^popek: init-vmm: '.*vmm\.ts' exists; popek never overwrites it\n$/);
});

test('the kit type-checks in the project, against popek/engine, popek/hw and popek/host by their package names', () => {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--noEmit',
      '--strict',
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--allowImportingTsExtensions',
      '--skipLibCheck',
      '--types',
      'node',
      '--typeRoots',
      join(root, 'node_modules/@types'),
      vmm,
    ],
    { cwd: project, encoding: 'utf8' },
  );
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
}, 60_000);

// Issue 16 item 6, with exactly the commands the kit's README gives a student.
test('stage physical as written: popek check --engine DIR/vmm.ts --guests physical passes', async () => {
  const r = await popek(
    'check',
    '--engine',
    vmm,
    '--guests',
    'physical',
    '--runs',
    '25',
    '--workers',
    '1',
    '--out',
    join(project, 'replays'),
  );
  expect(r.stdout).toMatch(/vmm\.ts: equivalence: ok after 25 runs/);
  expect(r.code).toBe(0);
}, 60_000);

test('stage paging is the exercise: popek check --engine DIR/vmm.ts --guests paging finds a short counterexample', async () => {
  const out = join(project, 'replays');
  const r = await popek('check', '--engine', vmm, '--guests', 'paging', '--runs', '10', '--workers', '1', '--out', out);
  expect(r.code).toBe(1);
  const m = /counterexample: equivalence on \S*vmm\.ts, seed \d+: after \d+ runs and \d+ shrink steps, (\d+) body instructions/.exec(
    r.stdout,
  );
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBeLessThanOrEqual(3);
  // The guest turned paging on: from then on the spec walks the guest's tables (and sets
  // their A bits, DESIGN §3.5.5) while the kit still runs on the physical map. The short
  // report names the set-up in one line; the set-up itself is in the saved prelude.
  expect(r.stdout).toMatch(/; setup: paging on/);
}, 60_000);
