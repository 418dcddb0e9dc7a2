// The `popek` command's contract (DESIGN §10): stdout is the console, --json is one
// object, every misuse is one `popek: ...` line on stderr with exit 2. The binary itself is
// spawned where the process matters (exit codes, bytes on stdout); the long lists of
// misuse run in this process (./in-process.ts), through the same main().

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ObservationJson } from '../../properties/observation-json.ts';
import { expectUsageError, popek as inProcess } from './in-process.ts';

const root = new URL('../../', import.meta.url).pathname;
const popek = (...args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/popek.js'), ...args], { cwd: root, encoding: 'latin1' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const scratch = mkdtempSync(join(tmpdir(), 'popek-cli-'));
const file = (name: string, text: string) => {
  const p = join(scratch, name);
  writeFileSync(p, text);
  return p;
};

/** What `popek run --json` prints, as far as the type system knows: the tests below check it is so. */
const runJson = (stdout: string) => JSON.parse(stdout) as ObservationJson & { counters: Record<string, number> };

describe('popek run', () => {
  test('stdout is the guest console', () => {
    const r = popek('run', 'examples/hello.s');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from VX32!\n');
  });

  test('console bytes above 0x7F are written as bytes', () => {
    const p = file('high.s', 'mov eax, 0xE9\nout 0xE9, eax\nhlt\n');
    const r = spawnSync(process.execPath, [join(root, 'bin/popek.js'), 'run', p]);
    expect([...r.stdout]).toEqual([0xe9]);
  });

  test('--json prints the observation of DESIGN §2 with ram as {sha256} and counters', () => {
    const r = popek('run', 'examples/hello.s', '--json');
    expect(r.code).toBe(0);
    const o = runJson(r.stdout);
    expect(Object.keys(o).sort()).toEqual(
      [
        'status',
        'icount',
        'regs',
        'eip',
        'eflags',
        'cpl',
        'cr0',
        'cr2',
        'cr3',
        'cr4',
        'idtr',
        'tr',
        'ram',
        'console',
        'device',
        'trace',
        'pending',
        'counters',
      ].sort(),
    );
    expect(o.status).toBe('halted');
    expect(o.console).toBe('Hello from VX32!\n');
    expect(o.ram.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(o.cr0).toBe(1); // §3.1 reset: PE only
    expect(o.counters.instructions).toBe(o.icount);
  });

  test('a guest that faults forever still ends, at the budget, with exit 0', () => {
    // Zeroed memory is #UD (§3.3) and there is no IDT: #UD → #GP (limit) → #DF → shutdown.
    const p = file('zero.s', '.zero 8\n');
    const r = popek('run', p, '--json');
    expect(r.code).toBe(0);
    expect(runJson(r.stdout).status).toBe('shutdown');
  });

  test('--max-steps bounds the run; status running', () => {
    const p = file('loop.s', 'l: jmp l\n');
    const o = runJson(popek('run', p, '--max-steps', '25', '--json').stdout);
    expect(o.status).toBe('running');
    expect(o.icount).toBe(25);
  });

  test('--ram takes K/M/G suffixes (§3.10.15)', () => {
    const p = file('ram.s', 'mov eax, [0x1FFC]\nhlt\n');
    // 8K of RAM: 0x1FFC is the last word of RAM, so it reads 0 not open-bus 0xFFFFFFFF.
    expect(runJson(popek('run', p, '--ram', '8K', '--json').stdout).regs.eax).toBe(0);
    expect(runJson(popek('run', p, '--ram', '4K', '--json').stdout).regs.eax).toBe(0xffffffff);
  });

  test('--events delivers interrupts', () => {
    const r = popek('run', 'examples/timer.s', '--events', 'examples/timer.events.json');
    expect(r.stdout).toBe('tick 1\ntick 2\ntick 3\ntick 4\ntick 5\nfive ticks: halting with interrupts off\n');
  });

  test('misuse is one line and exit 2', async () => {
    // The binary's own exit code and stderr, twice; the rest through main().
    expectUsageError(popek('run'), /expected one FILE\.s/);
    expectUsageError(popek('frobnicate'), /unknown command 'frobnicate'/);
    expectUsageError(await inProcess('run', join(scratch, 'missing.s')), /cannot read .*missing\.s.*ENOENT/);
    expectUsageError(await inProcess('run', 'examples/hello.s', '--ram', '12Q'), /--ram/);
    expectUsageError(await inProcess('run', 'examples/hello.s', '--ram', '5000'), /multiple of 4096/);
    expectUsageError(await inProcess('run', 'examples/hello.s', '--max-steps', '-1'), /--max-steps/);
    expectUsageError(await inProcess('run', 'examples/hello.s', '--engine', 'qemu'), /unknown engine 'qemu'/);
    expectUsageError(await inProcess('run', 'examples/hello.s', '--bogus'), /bogus/);
  });

  test('assembler errors name file, line and column', () => {
    const p = file('bad.s', 'nop\n  mov exx, 1\n');
    expectUsageError(popek('run', p), new RegExp(`^popek: ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:7: unknown register 'exx'`));
  });

  test('an image that does not fit in RAM is a usage error', () => {
    const p = file('big.s', '.org 0x200000\nnop\n');
    expectUsageError(popek('run', p), /outside RAM/);
  });

  test('malformed events files are usage errors', async () => {
    const prog = 'examples/hello.s';
    expectUsageError(await inProcess('run', prog, '--events', file('e1.json', '{not json')), /not JSON/);
    expectUsageError(await inProcess('run', prog, '--events', file('e2.json', '{"at": 1}')), /JSON array/);
    expectUsageError(await inProcess('run', prog, '--events', file('e3.json', '[{"at": 1, "kind": "nmi"}]')), /unknown kind "nmi"/);
    expectUsageError(await inProcess('run', prog, '--events', file('e4.json', '[{"at": 1, "kind": "irq", "vector": 14}]')), /32-255/);
    expectUsageError(await inProcess('run', prog, '--events', file('e5.json', '[{"at": -1, "kind": "flush-tlb"}]')), /non-negative/);
    expectUsageError(await inProcess('run', prog, '--events', file('e6.json', '[{"at": 1, "kind": "swap-out"}]')), /gpa/);
    expectUsageError(
      await inProcess('run', prog, '--events', file('e7.json', '[{"at": 1, "kind": "irq", "vector": 40, "x": 1}]')),
      /unexpected field 'x'/,
    );
  });

  test('--help on every command', async () => {
    for (const cmd of ['run', 'diff', 'check', 'replay', 'mutants', 'classify', 'bench']) {
      const r = await inProcess(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: popek ${cmd}`));
    }
    expect(popek('--help').stdout).toMatch(/^usage: popek COMMAND/);
  });
});

describe('popek diff', () => {
  test('equivalent engines: exit 0 and the number of steps', () => {
    const r = popek('diff', 'examples/usermode.s', '--engine', 'native');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^equivalent: spec and native agree on all \d+ steps/);
  });

  test('misuse is a usage error', async () => {
    expectUsageError(await inProcess('diff', 'examples/hello.s', '--engine', 'bochs'), /unknown engine 'bochs'/);
    expectUsageError(await inProcess('diff'), /expected one FILE\.s/);
  });
});

describe('popek check and replay', () => {
  test('a clean engine passes; a bug gives exit 1, a shrunk counterexample and a replay file', () => {
    expect(popek('check', '--runs', '50', '--workers', '1').code).toBe(0);
    const out = join(scratch, 'replays');
    const r = popek('check', '--runs', '200', '--bug', 'sti-shadow-ignored', '--workers', '1', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^counterexample: equivalence on native, seed 20261125: /m);
    expect(r.stdout).toMatch(/^bug sti-shadow-ignored: /m);
    expect(r.stdout).toMatch(/first divergence at step \d+/);
    const replayFile = /^saved: (\S+\.json) \(popek replay\)/m.exec(r.stdout)![1]!;
    const again = popek('replay', replayFile);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/first divergence at step \d+/);
  });

  test('--list-bugs prints name, engines and description; unknown bugs and bad shards are usage errors', async () => {
    expect((await inProcess('check', '--list-bugs')).stdout).toMatch(/^tlb-no-flush-on-cr3 +native +mov cr3 does not flush the TLB/m);
    expectUsageError(await inProcess('check', '--bug', 'nonsense'), /unknown bug 'nonsense'/);
    expectUsageError(await inProcess('check', '--shard', '3/2'), /--shard/);
    expectUsageError(
      await inProcess('check', '--property', 'isolation', '--engine', 'native'),
      /property 'isolation' is about vmx-shadow, vmx-ept, not native/,
    );
    expectUsageError(await inProcess('replay', join(scratch, 'nothing.json')), /cannot read replay file/);
  });
});

describe('popek classify', () => {
  test('prints the table and the Theorem 1 verdict; --json parses', () => {
    const r = popek('classify');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Theorem 1 does not hold/);
    const j = JSON.parse(popek('classify', '--json').stdout) as { theorem1: { holds: boolean } };
    expect(j.theorem1.holds).toBe(false);
  });
});
