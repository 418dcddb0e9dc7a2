// Plugin engines beyond run/diff/check/replay (issue 16): `popek bench`, `popek explain`
// and `popek serve` load `--engine ./x.ts` like any engine. The verdicts are known ones:
// the native-wrapping plugin runs a workload exactly as native does (same instructions for
// the same budget), and the kit's solution served over the protocol with its
// `no-write-protect` mistake diverges where popek's vmx-shadow with the same bug does
// (tests/protocol/serve.test.ts; without it the solution passes, tests/kit).

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { assemble } from '../../spec/asm/assemble.ts';
import { remoteFactory } from '../../src/engines/remote.ts';
import { popek } from '../cli/in-process.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const NATIVE_PLUGIN = join(root, 'tests/plugin/fixtures/native-plugin.ts');
const SOLUTION = join(root, 'tests/kit/fixtures/solution/vmm.ts');
const scratch = mkdtempSync(join(tmpdir(), 'popek-plugin-commands-'));

test('popek bench --engine ./plugin.ts: a row for the plugin, named by its path, beside native', async () => {
  const r = await popek('bench', '--engine', NATIVE_PLUGIN, '--engine', 'native', '--workload', 'tight-loop', '--steps', '10000');
  expect(r.code).toBe(0);
  // tight-loop never halts: each engine retires exactly the budget.
  expect(r.stdout).toMatch(/^\S*tests\/plugin\/fixtures\/native-plugin\.ts\s+tight-loop\s+10000 /m);
  expect(r.stdout).toMatch(/^native\s+tight-loop\s+10000 /m);
  const l = await popek('bench', '--lockstep', '--engine', NATIVE_PLUGIN, '--runs', '2');
  expect(l.code).toBe(0);
  expect(l.stdout).toMatch(/^lockstep \S*native-plugin\.ts vs spec, fast comparison: 2 generated cases/);
});

test('popek bench with a plugin that cannot be loaded: one popek: line, exit 2', async () => {
  const r = await popek('bench', '--engine', join(scratch, 'missing.ts'), '--workload', 'tight-loop', '--steps', '10');
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^popek: plugin '.*missing\.ts': no such file\n$/);
});

test('popek explain --engine ./plugin.ts writes the page, and says what it cannot draw for a plugin', async () => {
  const out = join(scratch, 'hello.html');
  const r = await popek('explain', join(root, 'examples/hello.s'), '--engine', NATIVE_PLUGIN, '-o', out);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/hello\.html: \d+ steps\n$/);
  expect(r.stderr).toMatch(/^popek explain: \S*native-plugin\.ts is a plugin: .*exits and walks are drawn for popek's own VMX engines\n$/);
  expect(existsSync(out)).toBe(true);
  expect(readFileSync(out, 'utf8')).toMatch(/popek explain hello\.s on \S*native-plugin\.ts/);
});

test("popek serve --engine ./plugin.ts: the kit's solution served over the protocol, its mistake switched on by --bug", () => {
  const serve = (args: string) => remoteFactory(`cmd:node ${join(root, 'bin/popek.js')} serve --engine ${SOLUTION} ${args}`);
  const { image } = assemble(readFileSync(join(root, 'tests/protocol/stale-pte.s'), 'utf8'), 'stale-pte.s');
  const c = { image, config: { ramBytes: 0x10000 }, events: [], maxSteps: 1000 };
  // One process (each costs a tsx start): the second `mov eax, [0x8000]` (instruction 155) reads through the stale shadow entry.
  const bad = lockstep(serve('--bug no-write-protect'), c);
  expect(bad.divergence?.step).toBe(154);
});
