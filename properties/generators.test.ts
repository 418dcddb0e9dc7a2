// The generators themselves (properties/arbitraries, DESIGN §7): every case is a valid
// program that runs on the reference model; the hard cases occur often; shrinking reaches
// small programs; rendering and running are deterministic. Fixed seeds throughout
// (DESIGN §1: no test.prop), so the measured distribution is reproducible.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assemble } from '../spec/asm/assemble.ts';
import { runSpec } from '../spec/machine.ts';
import type { Image, Observation } from '../spec/observation.ts';
import { caseArb, type GuestCase } from './arbitraries/case.ts';
import { HARD_CASE_TAGS, hasPopfAtCpl3, labelsOf, runtimeLabels } from './arbitraries/labels.ts';
import { bodyInsnCount, render } from './arbitraries/render.ts';

const SEED = 20240607;

/** The body of a case's program, from `body:` to `body_end:`. */
function bodyOf(c: GuestCase): string {
  const lines = render(c).split('\n');
  return lines.slice(lines.indexOf('body:'), lines.indexOf('body_end:') + 1).join('\n');
}

function runCase(c: GuestCase): Observation {
  return runSpec(c.image, { ramBytes: c.ramBytes }, c.events, c.maxSteps);
}

/** The observation without RAM, and RAM as a Buffer: deep-equal on 256 KiB arrays is slow. */
const split = (o: Observation) => ({ rest: { ...o, ram: undefined }, ram: Buffer.from(o.ram) });

test('every generated case assembles, runs on the spec and ends in a guest-visible status', () => {
  fc.assert(
    fc.property(caseArb(), (c) => {
      const obs = runCase(c);
      expect(['running', 'halted', 'shutdown']).toContain(obs.status);
      expect(c.maxSteps).toBeGreaterThanOrEqual(256);
      expect(c.maxSteps).toBeLessThanOrEqual(2000);
      expect(obs.icount).toBeLessThanOrEqual(c.maxSteps);
    }),
    { seed: SEED, numRuns: 150 },
  );
});

test('each hard case occurs in at least 5 % of generated programs', () => {
  const N = 400;
  const cases = fc.sample(caseArb(), { seed: SEED, numRuns: N });
  const counts = new Map<string, number>();
  let body = 0;
  for (const c of cases) {
    body += bodyInsnCount(c);
    for (const tag of [...labelsOf(c), ...runtimeLabels(c, runCase(c))]) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  }
  const pct = (t: string) => (100 * (counts.get(t) ?? 0)) / N;
  const table = [...counts.keys()].sort((a, b) => pct(b) - pct(a)).map((t) => `${t.padEnd(30)} ${pct(t).toFixed(1).padStart(5)} %`);
  console.log(`tag distribution over ${N} cases (seed ${SEED}), mean body ${(body / N).toFixed(1)} instructions:\n${table.join('\n')}`);
  const rare = HARD_CASE_TAGS.filter((t) => pct(t) < 5);
  expect(rare).toEqual([]);
  expect(body / N).toBeGreaterThanOrEqual(10);
  expect(body / N).toBeLessThanOrEqual(60);
});

test('shrinking: "no popf at cpl 3" fails and shrinks to a body of at most 10 instructions', () => {
  const out = fc.check(
    fc.property(caseArb(), (c) => !hasPopfAtCpl3(c)),
    { seed: SEED, numRuns: 200 },
  );
  expect(out.failed).toBe(true);
  const [c] = out.counterexample!;
  const size = bodyInsnCount(c);
  console.log(
    `shrunk in ${out.numShrinks} steps to ${c.pieces.length} piece(s), ${size} body instructions, ${c.events.length} events:\n${bodyOf(c)}`,
  );
  expect(c.pieces).toHaveLength(1);
  expect(size).toBeLessThanOrEqual(10);
  expect(c.events).toEqual([]);
});

test('shrinking a run-time property: "no fault during delivery" shrinks to a small case', () => {
  const failsOnDeliveryFault = (c: GuestCase) => !runtimeLabels(c, runCase(c)).includes('delivery-fault');
  const out = fc.check(fc.property(caseArb(), failsOnDeliveryFault), { seed: SEED, numRuns: 200 });
  expect(out.failed).toBe(true);
  const [c] = out.counterexample!;
  console.log(
    `delivery fault shrunk in ${out.numShrinks} steps to ${c.pieces.length} piece(s), ${bodyInsnCount(c)} body instructions, ${c.events.length} events`,
  );
  expect(c.pieces.length).toBeLessThanOrEqual(1);
  expect(bodyInsnCount(c)).toBeLessThanOrEqual(12);
});

test('determinism: same case, same text; same text, same observation', () => {
  const again = fc.sample(caseArb(), { seed: SEED, numRuns: 40 });
  fc.sample(caseArb(), { seed: SEED, numRuns: 40 }).forEach((c, i) => {
    const text = render(c);
    expect(render(c)).toBe(text);
    expect(render(again[i]!)).toBe(text);
    expect(again[i]!.events).toEqual(c.events);
    const [a, b] = [split(runCase(c)), split(runCase(c))];
    expect(a.rest).toEqual(b.rest);
    expect(a.ram.equals(b.ram)).toBe(true);
  });
});

test('the program printed is the program run: render(c) assembles to the image and symbols the case carries', () => {
  const hex = (image: Image) => ({
    entry: image.entry,
    chunks: image.chunks.map((ch) => [ch.addr, Buffer.from(ch.bytes).toString('hex')]),
  });
  for (const c of fc.sample(caseArb(), { seed: SEED, numRuns: 40 })) {
    const { image, symbols } = assemble(render(c), 'case.s');
    expect(hex(c.image)).toEqual(hex(image));
    expect(c.symbols).toEqual(symbols);
  }
});
