// trap-emulate against the spec (DESIGN §5, §7): classic trap-and-emulate is equivalent
// on guests that avoid the sensitive unprivileged instructions, and the suite REFUTES it
// with each of them — pushf, popf, sidt, str, `mov a, cs` — as a shrunk counterexample
// whose first divergence is that instruction (the lecture's popf slide, executable).
//
// The generated cases are popek check's own (properties/check/cases.ts), filtered:
// - by the text of the body (the pieces; the fixed handlers are the same for every case):
//   which sensitive unprivileged instructions it contains;
// - by a guest ring-1 piece: guest rings 0 and 1 share real ring 1 (ring compression),
//   so an iret from ring 0 to ring 1 does not trap and the monitor keeps cpl 0;
// - by the divergence itself: an `iret` to an outer ring (or to the same ring at cpl > 0)
//   runs natively at real ring 1–3 with IOPL 0, so the IF and IOPL it pops are lost,
//   exactly as with popf. A case whose first divergence is such an iret (only eflags and
//   cpl differ) is discarded with fc.pre: it is the sixth sensitive unprivileged
//   instruction of VX32 (Robin & Irvine list IRET among x86's), not a monitor bug.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { engineFactory } from '../src/engines/registry.ts';
import { caseArb, caseInstructions, type CheckCase } from './check/cases.ts';
import { lockstep, type Divergence } from './lockstep/lockstep.ts';
import { formatDivergence } from './lockstep/report.ts';
import { labelsOf } from './arbitraries/labels.ts';
import { runsOf } from './budget.ts';

const SEED = 20261125;
const ENGINE = 'trap-emulate';
const MAX_INSTRUCTIONS = 10;

/** The sensitive unprivileged instructions of VX32 that classic trap-and-emulate misses. */
const SENSITIVE = {
  popf: { source: /^\s*(?:\w+:\s*)?popf\b/m, insn: /^popf\b/ },
  pushf: { source: /^\s*(?:\w+:\s*)?pushf\b/m, insn: /^pushf\b/ },
  sidt: { source: /^\s*(?:\w+:\s*)?sidt\b/m, insn: /^sidt\b/ },
  str: { source: /^\s*(?:\w+:\s*)?str\b/m, insn: /^str\b/ },
  'mov a, cs': { source: /^\s*(?:\w+:\s*)?mov\s+\w+,\s*cs\b/m, insn: /^mov \w+, cs\b/ },
} as const;
type Sensitive = keyof typeof SENSITIVE;
const NAMES = Object.keys(SENSITIVE) as Sensitive[];

/** The body's instructions without comments (render.ts: `body:` … `body_end:`). */
function bodyCode(c: CheckCase): string {
  const s = c.source;
  const from = s.indexOf('\nbody:');
  const to = s.indexOf('\nbody_end:');
  return (from < 0 || to < 0 ? '' : s.slice(from, to))
    .split('\n')
    .map((l) => l.replace(/;.*/, ''))
    .join('\n');
}

const sensitiveIn = (c: CheckCase): Sensitive[] => NAMES.filter((n) => SENSITIVE[n].source.test(bodyCode(c)));
const ringCompressed = (c: CheckCase): boolean => c.guest.pieces.some((p) => p.kind === 'user' && p.ring === 1);

function divergence(c: CheckCase): Divergence | undefined {
  const make = engineFactory(ENGINE);
  // ramStride 1: a RAM difference (pushf, sidt) is reported at the step that wrote it.
  return lockstep(make, { image: c.image, config: { ramBytes: c.ramBytes }, events: c.events, maxSteps: c.maxSteps }, { ramStride: 1 })
    .divergence;
}

/** The iret the monitor cannot see (see the top of this file): only eflags and cpl differ. */
const isNativeIret = (d: Divergence): boolean =>
  /^iret\b/.test(d.insn) && d.error === undefined && d.fields.every((f) => f.path === 'eflags' || f.path === 'cpl');

/** Holds when trap-emulate agrees with the spec; discards cases refuted by a native iret. */
function agrees(c: CheckCase): boolean {
  const d = divergence(c);
  if (d === undefined) return true;
  fc.pre(!isNativeIret(d));
  return false;
}

test('trap-emulate ≡ spec on generated guests without sensitive unprivileged instructions', () => {
  const clean = caseArb.filter((c) => sensitiveIn(c).length === 0 && !ringCompressed(c));
  const stats: Record<string, number> = { runs: 0, nativeIret: 0 };
  const TAGS = [
    'paging',
    'pt-edit-live',
    'cr3-switch',
    'user-piece',
    'mmio',
    'irq',
    'host-events',
    'delivery-fault-piece',
    'straddle',
    '4M-page',
  ];
  fc.assert(
    fc.property(clean, (c) => {
      stats.runs!++;
      for (const t of labelsOf(c.guest)) if (TAGS.includes(t)) stats[t] = (stats[t] ?? 0) + 1;
      const d = divergence(c);
      if (d !== undefined && isNativeIret(d)) {
        stats.nativeIret!++; // the sixth sensitive instruction: not a monitor bug, not a pass either
        return true;
      }
      if (d !== undefined) throw new Error(`${c.source}\n\n${formatDivergence(d, ENGINE)}`);
      return true;
    }),
    { seed: SEED, numRuns: runsOf(300) },
  );
  console.log(`trap-emulate equivalence: ${JSON.stringify(stats)}`);
  // Most runs must be real agreements, not iret discards.
  expect(stats.nativeIret!).toBeLessThan(stats.runs! / 4);
}, 120_000);

interface Refutation {
  instruction: Sensitive;
  runs: number;
  shrinks: number;
  instructions: number;
  divergence: Divergence;
  source: string;
}

const table: Refutation[] = [];

/** Cases whose body has `which` and no other sensitive unprivileged instruction. */
const focusedArb = (which: Sensitive) =>
  caseArb.filter((c) => {
    const s = sensitiveIn(c);
    return s.length === 1 && s[0] === which && !ringCompressed(c);
  });

test.each(NAMES)(
  'refutation: the suite finds %s with a shrunk counterexample',
  (which) => {
    const r = fc.check(fc.property(focusedArb(which), agrees), { seed: SEED, numRuns: 300 });
    expect(r.failed, `trap-emulate was not refuted by ${which} in ${r.numRuns} runs`).toBe(true);
    const [c] = r.counterexample!;
    const d = divergence(c)!;
    const body = c.source.slice(c.source.indexOf('\nbody:') + 1, c.source.indexOf('\nbody_end:'));
    const report = `${which}: counterexample after ${r.numRuns} runs, ${r.numShrinks} shrinks, ${caseInstructions(c)} instructions\n${body}\n\n${formatDivergence(d, ENGINE)}`;
    console.log(report);
    expect(d.insn, report).toMatch(SENSITIVE[which].insn);
    expect(caseInstructions(c), report).toBeLessThanOrEqual(MAX_INSTRUCTIONS);
    table.push({
      instruction: which,
      runs: r.numRuns,
      shrinks: r.numShrinks,
      instructions: caseInstructions(c),
      divergence: d,
      source: c.source,
    });
  },
  120_000,
);

/**
 * Not in DESIGN §5's list, found by the suite: an iret from the guest kernel (real ring 1)
 * to ring 3 does not trap, and pops eflags at real cpl 1 with IOPL 0 — IF and IOPL stay.
 */
test('refutation: an iret to an outer ring loses the IF and IOPL it pops', () => {
  const clean = caseArb.filter((c) => sensitiveIn(c).length === 0 && !ringCompressed(c));
  const r = fc.check(
    fc.property(clean, (c) => divergence(c) === undefined),
    { seed: SEED, numRuns: 300 },
  );
  expect(r.failed).toBe(true);
  const [c] = r.counterexample!;
  const d = divergence(c)!;
  console.log(`iret: counterexample after ${r.numRuns} runs, ${caseInstructions(c)} instructions\n${formatDivergence(d, ENGINE)}`);
  expect(isNativeIret(d)).toBe(true);
  expect(caseInstructions(c)).toBeLessThanOrEqual(MAX_INSTRUCTIONS);
  console.log(
    `iret (outer)  ${String(r.numRuns).padStart(4)} ${String(caseInstructions(c)).padStart(6)}   ${d.fields.map((f) => f.path).join(', ')}`,
  );
}, 120_000);

test('refutation table', () => {
  const rows = table.map(
    (t) =>
      `${t.instruction.padEnd(10)} ${String(t.runs).padStart(5)} ${String(t.instructions).padStart(6)}   ${t.divergence.fields.map((f) => f.path).join(', ')}`,
  );
  console.log(['instruction  runs  shrunk  diverging fields', ...rows].join('\n'));
  expect(table.map((t) => t.instruction).sort()).toEqual([...NAMES].sort());
});

/** DESIGN §6.14: no guest input crashes the monitor — random bytes as code, random irqs. */
test('robustness: random code never crashes trap-emulate', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 512 }),
      fc.array(fc.record({ at: fc.nat(300), vector: fc.integer({ min: 32, max: 255 }) }), { maxLength: 4 }),
      (code, irqs) => {
        const e = engineFactory(ENGINE)({ chunks: [{ addr: 0, bytes: code }], entry: 0 }, { ramBytes: 0x10000 });
        const obs = e.run(
          irqs.map((i) => ({ ...i, kind: 'irq' as const })),
          400,
        );
        expect(['running', 'halted', 'shutdown']).toContain(obs.status);
      },
    ),
    { seed: SEED, numRuns: runsOf(300) },
  );
});
