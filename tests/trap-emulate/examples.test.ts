// trap-emulate on the lecture's example programs (DESIGN §5): equivalent to the spec in
// lockstep on every program that avoids the sensitive unprivileged instructions, and
// diverging exactly at them on the ones that do not (popf.s, usermode.s, user-loop.s).

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { assemble } from '../../spec/asm/assemble.ts';
import type { HostEvent } from '../../spec/observation.ts';
import { engineFactory } from '../../src/engines/registry.ts';
import { TrapEmulateEngine } from '../../src/engines/trap-emulate.ts';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import { formatDivergence } from '../../properties/lockstep/report.ts';
import { stepsOf } from '../../properties/budget.ts';

const root = new URL('../../', import.meta.url);

function run(file: string, maxSteps: number) {
  const image = assemble(readFileSync(new URL(file, root), 'utf8'), file).image;
  const eventsFile = new URL(file.replace(/\.s$/, '.events.json'), root);
  let events: HostEvent[] = [];
  try {
    events = JSON.parse(readFileSync(eventsFile, 'utf8')) as HostEvent[];
  } catch {
    // no events file: no events
  }
  return lockstep(engineFactory('trap-emulate'), { image, config: { ramBytes: 1 << 20 }, events, maxSteps }, { ramStride: 1 });
}

test.each([
  ['examples/hello.s', 100_000],
  ['examples/mmio.s', 100_000],
  ['examples/paging.s', 100_000],
  ['examples/timer.s', 5_000],
  ['examples/triple-fault.s', 100_000],
  ['examples/bench/tight-loop.s', 20_000],
  ['examples/bench/paging-loop.s', 20_000],
  ['examples/bench/fork.s', 20_000],
  ['examples/bench/ptemod.s', 20_000],
])('%s: trap-emulate ≡ spec', (file, maxSteps) => {
  const r = run(file, stepsOf(maxSteps));
  expect(r.divergence && formatDivergence(r.divergence, 'trap-emulate')).toBeUndefined();
});

test.each([
  ['examples/popf.s', /^popf\b/],
  ['examples/usermode.s', /^iret\b/],
  ['examples/bench/user-loop.s', /^iret\b/],
])('%s: the first divergence is the sensitive unprivileged instruction', (file, insn) => {
  const r = run(file, 100_000);
  expect(r.divergence?.insn).toMatch(insn);
});

test('counters: traps by vector, emulated instructions, shadow statistics', () => {
  const file = 'examples/paging.s';
  const image = assemble(readFileSync(new URL(file, root), 'utf8'), file).image;
  const e = new TrapEmulateEngine(image, { ramBytes: 1 << 20 });
  e.run([], 100_000);
  const c = e.counters();
  // Every privileged instruction and every shadow fill is a trap (an "exit").
  expect(c.exits).toBe(
    Object.entries(c)
      .filter(([k]) => k.startsWith('trap.'))
      .reduce((n, [, v]) => n + v, 0),
  );
  expect(c['trap.13']).toBeGreaterThan(0); // #GP: mov crN, lidt, ltr, out at ring 1
  expect(c['trap.14']).toBeGreaterThan(0); // #PF: hidden faults fill the shadow
  expect(c['emulated.mov-to-cr']).toBeGreaterThan(0);
  expect(c['shadow.fills']).toBe(c.hiddenFaults);
  expect(c.trueFaults).toBeGreaterThan(0); // paging.s maps pages on demand from its #PF handler
});

test('sidt, str and mov a, cs at guest ring 0 reveal the monitor', () => {
  const src = `
    mov eax, cs
    str ebx
    sidt [0x800]
    mov ecx, [0x802]
    hlt`;
  const obs = new TrapEmulateEngine(assemble(src, 'reveal.s').image, { ramBytes: 1 << 16 }).run([], 100);
  expect(obs.regs.eax).toBe(0x19); // ring 1, where the kernel believes it has ring 0 (0x08)
  expect(obs.regs.ebx).toBe(0xffc01000); // the monitor's TR, not the guest's 0
  expect(obs.regs.ecx).toBe(0xffc00000); // the monitor's IDT base
  expect(obs.tr).toBe(0); // while the guest's own view, read by the monitor, is right
});
