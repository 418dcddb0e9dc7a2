// Plugin engines (issue 16 items 1, 3, 6; DESIGN §5, §10): a user's module named by its
// path works in run, diff, check (on worker threads too) and replay; a bad plugin is one
// `popek:` line naming the file, exit 2; an engine that hangs during a guest run is a
// finding, shrunk and saved. The fixtures wrap the built-in `native` engine, which is
// equivalent to the spec, so every expected divergence is the planted bug's.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { observationProblem } from '../../src/engines/plugin.ts';
import { EngineHung, guarded } from '../../src/engines/guard.ts';
import { NativeEngine } from '../../src/engines/native.ts';
import { popek } from '../cli/in-process.ts';

const root = new URL('../../', import.meta.url).pathname;
const fixture = (name: string) => join(root, 'tests/plugin/fixtures', name);
const scratch = mkdtempSync(join(tmpdir(), 'popek-plugin-'));
const file = (name: string, text: string) => {
  const p = join(scratch, name);
  writeFileSync(p, text);
  return p;
};

/** DESIGN §3.4: popf at cpl 0 pops IF too, so eflags is 0x202 after it; hlt with no event left ends the run. */
const POPF_GUEST = 'mov esp, 0x800\nmov eax, 0x202\npush eax\npopf\nhlt\n';

function expectUsageError(r: { code: number | null; stderr: string }, ...patterns: RegExp[]) {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^popek: [^\n]*\n$/);
  for (const p of patterns) expect(r.stderr).toMatch(p);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('a plugin that wraps native', () => {
  test('runs a guest: stdout is its console', async () => {
    const r = await popek('run', 'examples/hello.s', '--engine', fixture('native-plugin.ts'));
    expect(r.stderr).toMatch(/^popek run: the guest halted [^\n]*\n$/);
    expect(r.stdout).toBe('Hello from VX32!\n');
    expect(r.code).toBe(0);
  });

  test('diff: equivalent to the spec', async () => {
    const r = await popek('diff', file('popf.s', POPF_GUEST), '--engine', fixture('native-plugin.ts'));
    expect(r.stdout).toMatch(/^equivalent: spec and \S*native-plugin\.ts agree/);
    expect(r.code).toBe(0);
  });

  test('check passes on two worker threads, each loading the plugin by its path', async () => {
    const r = await popek('check', '--engine', fixture('native-plugin.ts'), '--runs', '8', '--workers', '2');
    expect(r.stdout).toMatch(/native-plugin\.ts: equivalence: ok after 8 runs/);
    expect(r.code).toBe(0);
  });

  test('a property that needs a host the plugin does not expose is refused', async () => {
    expectUsageError(await popek('check', '--engine', fixture('native-plugin.ts'), '--property', 'audit'), /audit/, /native-plugin\.ts/);
  });
});

describe('a plugin that declares audit(): the audit property applies to it', () => {
  test('its audit runs after every step and passes', async () => {
    const r = await popek('check', '--engine', fixture('audited-native.ts'), '--property', 'audit', '--runs', '5', '--workers', '1');
    expect(r.stdout).toMatch(/audited-native\.ts: audit: ok after 5 runs/);
    expect(r.code).toBe(0);
  });

  test("a violation is reported with the audit's own line, at the step that broke it", async () => {
    const out = join(scratch, 'replays-audit');
    const r = await popek(
      'check',
      '--engine',
      fixture('planted-audit.ts'),
      '--property',
      'audit',
      '--runs',
      '20',
      '--workers',
      '1',
      '--out',
      out,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/counterexample: audit on \S*planted-audit\.ts/);
    // The first step that runs at cpl 3 is the one after the iret that enters ring 3.
    expect(r.stdout).toMatch(/first divergence at step \d+: iret/);
    expect(r.stdout).toMatch(/audit failed:\s+planted: the guest is at cpl 3/);
  });
});

describe('the same plugin with a planted bug (popf keeps IF clear)', () => {
  test('is caught and shrunk by check, saved, and replays', async () => {
    const out = join(scratch, 'replays-bug');
    const r = await popek('check', '--engine', fixture('popf-bug-plugin.ts'), '--runs', '30', '--workers', '1', '--out', out);
    expect(r.code).toBe(1);
    const m =
      /counterexample: equivalence on \S*popf-bug-plugin\.ts, seed \d+: after \d+ runs and (\d+) shrink steps, (\d+) body instructions/.exec(
        r.stdout,
      );
    expect(m).not.toBeNull();
    // Shrunk: the bug needs one popf that pops IF = 1 (a pushf or a push before it), run at
    // ring 0 or reached through a ring change (the pieces that get there: at most 7).
    expect(Number(m![2])).toBeLessThanOrEqual(7);
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/eflags/);
    const saved = readdirSync(out).find((f) => f.endsWith('.json'));
    expect(saved).toMatch(/^popf-bug-plugin-equivalence-.*\.json$/);
    const replay = await popek('replay', join(out, saved!));
    expect(replay.code).toBe(1);
    expect(replay.stdout).toMatch(/first divergence at step \d+: popf/);
  });

  test('diff points at the popf', async () => {
    const r = await popek('diff', file('popf.s', POPF_GUEST), '--engine', fixture('popf-bug-plugin.ts'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^first divergence at step 3: popf/);
    expect(r.stdout).toMatch(/\* eflags +0x202 +0x2\b/);
  });
});

describe('a plugin that cannot be used: one line naming the file, exit 2', () => {
  test('from the real binary: one line on stderr, exit 2, no stack', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin/popek.js'), 'run', 'examples/hello.s', '--engine', fixture('no-factory.ts')], {
      cwd: root,
      encoding: 'utf8',
    });
    expectUsageError({ code: r.status, stderr: r.stderr }, /no-factory\.ts' exports no engine factory/);
  });

  test.each([
    ['missing.ts', /plugin '\S*missing\.ts': no such file/],
    ['no-factory.ts', /plugin '\S*no-factory\.ts' exports no engine factory/],
    ['throwing-factory.ts', /plugin '\S*throwing-factory\.ts': the factory threw on a one-page guest: my VMM is not written yet/],
    ['wrong-shape.ts', /plugin '\S*wrong-shape\.ts': observe\(\) returned a wrong observation: regs\.eax/],
  ])('%s', async (name, pattern) => {
    expectUsageError(await popek('diff', 'examples/hello.s', '--engine', fixture(name)), pattern);
  });

  test('in every command that takes --engine', async () => {
    const missing = fixture('missing.ts');
    for (const args of [
      ['run', 'examples/hello.s'],
      ['check', '--runs', '1'],
    ])
      expectUsageError(await popek(...args, '--engine', missing), /missing\.ts': no such file/);
  });

  test('a module that does not load (a syntax error) names the file', async () => {
    expectUsageError(
      await popek('run', 'examples/hello.s', '--engine', file('broken.ts', 'export default (;\n')),
      /plugin '\S*broken\.ts' failed to load/,
    );
  });

  test('a factory that never returns is stopped when the plugin is probed', async () => {
    const hangs = file('hang-factory.ts', 'export default () => {\n  for (;;);\n};\n');
    expectUsageError(
      await popek('run', 'examples/hello.s', '--engine', hangs, '--timeout-ms', '200'),
      /hang-factory\.ts': on a one-instruction guest \(hlt\), its engine did not return within 200 ms/,
    );
  });

  test('a path that is not a module', async () => {
    expectUsageError(
      await popek('run', 'examples/hello.s', '--engine', file('vmm.py', '')),
      /plugin '\S*vmm\.py': not a \.ts, \.mts, \.js, \.mjs module/,
    );
  });
});

describe('an engine that hangs during a guest run', () => {
  test('diff reports it after --timeout-ms, exit 1', async () => {
    const r = await popek('diff', file('popf.s', POPF_GUEST), '--engine', fixture('hangs.ts'), '--timeout-ms', '300');
    expect(r.stderr).toBe('popek: engine did not return within 300 ms\n');
    expect(r.code).toBe(1);
  });

  test('check shrinks the hang and saves the counterexample, which replays as the hang', async () => {
    const out = join(scratch, 'replays-hang');
    const r = await popek('check', '--engine', fixture('hangs.ts'), '--runs', '5', '--workers', '1', '--timeout-ms', '250', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/counterexample: equivalence on \S*hangs\.ts, seed \d+: after \d+ runs and [1-9]\d* shrink steps/);
    expect(r.stdout).toMatch(/engine did not return within 250 ms/);
    const saved = readdirSync(out).find((f) => f.endsWith('.json'));
    const json = JSON.parse(readFileSync(join(out, saved!), 'utf8')) as { divergence: string; source: string };
    expect(json.divergence).toBe('engine did not return within 250 ms');
    const replay = await popek('replay', join(out, saved!), '--timeout-ms', '250');
    expect(replay.stdout).toMatch(/engine did not return within 250 ms\n$/);
    expect(replay.code).toBe(1);
  }, 60_000);
});

describe('guarded: a synchronous call stopped from outside its thread', () => {
  test('an endless loop becomes EngineHung; the next call runs normally', () => {
    expect(() =>
      guarded(() => {
        for (;;);
      }, 50),
    ).toThrow(EngineHung);
    expect(guarded(() => 6 * 7, 50)).toBe(42);
  });

  test("the engine's own try/catch cannot swallow the stop", () => {
    let caught = false;
    expect(() =>
      guarded(() => {
        try {
          for (;;);
        } catch {
          caught = true;
        }
      }, 50),
    ).toThrow(EngineHung);
    expect(caught).toBe(false);
  });
});

describe('observationProblem: DESIGN §2 field by field', () => {
  const image = { chunks: [{ addr: 0, bytes: new Uint8Array([0x02, 0, 0, 0, 0, 0, 0, 0]) }], entry: 0 };
  const good = () => new NativeEngine(image, { ramBytes: 4096 }).observe();

  test('the native engine gives a good observation', () => {
    expect(observationProblem(good(), 4096)).toBeUndefined();
  });

  test.each([
    ['status', { status: 'stopped' }, /status "stopped"/],
    ['ram length', { ram: new Uint8Array(100) }, /ram has 100 bytes, the guest has 4096/],
    ['a negative eip', { eip: -1 }, /eip -1 is not an unsigned 32-bit number/],
    ['console', { console: [] }, /console is not a string/],
    ['pending', { pending: ['32'] }, /pending/],
    ['idtr', { idtr: 0 }, /idtr/],
  ])('%s', (_, patch, pattern) => {
    expect(observationProblem({ ...good(), ...patch }, 4096)).toMatch(pattern);
  });

  test('a missing register', () => {
    const o = good();
    const { esi: _esi, ...regs } = o.regs;
    expect(observationProblem({ ...o, regs }, 4096)).toMatch(/regs\.esi/);
  });
});
