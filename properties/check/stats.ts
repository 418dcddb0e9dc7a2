// `popek check --stats`: which hard cases the generated guests of a campaign reach
// (DESIGN §7, fc.statistics-style), computed from the cases and one spec run of each; and
// how often the VMX engines reach their thrashing fallback on the smallest host the
// `transparency` property runs them on, and how many cases run with forced emulation.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import { runSpec } from '../../spec/machine.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { MIN_GUEST_FRAMES } from '../../src/vmm/core/host.ts';
import { HARD_CASE_TAGS, labelsOf, runtimeLabels } from '../arbitraries/labels.ts';
import { PROFILES } from '../arbitraries/profiles.ts';
import { caseInstructions, checkCaseArb, type CaseGen } from './cases.ts';
import { chunkSeed, chunksOf } from './seeds.ts';

export interface Stats {
  cases: number;
  meanInstructions: number;
  /** Percentage of cases carrying each tag, most frequent first. */
  tags: { tag: string; percent: number; hard: boolean }[];
}

/** Engine-side tags: reached only by running a VMX engine the way a property does. */
const SMALLEST = { hostGuestFrames: MIN_GUEST_FRAMES, maxShadowPages: 5, maxRoots: 1, maxEptTables: 1 };
const ENGINE_TAGS = ['thrash-fallback:vmx-shadow', 'thrash-fallback:vmx-ept', 'forced-emulation'] as const;

/** The same cases a campaign with this seed and run count generates (chunk by chunk). */
export function caseStats(runs: number, seed: number, gen: CaseGen = {}): Stats {
  const counts = new Map<string, number>();
  const add = (tag: string) => counts.set(tag, (counts.get(tag) ?? 0) + 1);
  let cases = 0;
  let instructions = 0;
  for (const { k, runs: n } of chunksOf(runs)) {
    for (const c of fc.sample(checkCaseArb(gen), { seed: chunkSeed(seed, k), numRuns: n })) {
      const { image } = assemble(c.source, 'generated.s');
      const config = { ramBytes: c.ramBytes };
      const obs = runSpec(image, config, c.events, c.maxSteps);
      for (const tag of new Set([...labelsOf(c.guest), ...runtimeLabels(c.guest, obs)])) add(tag);
      for (const [name, e] of [
        ['vmx-shadow', new VmxShadowEngine(image, config, SMALLEST)],
        ['vmx-ept', new VmxEptEngine(image, config, SMALLEST)],
      ] as const) {
        try {
          e.run(c.events, c.maxSteps);
        } catch {
          // A finding of the transparency property (suite.ts), counted here, never a crash of --stats.
          add(`engine-crashed:${name}`);
          continue;
        }
        if ((e.counters().thrashEmulations ?? 0) > 0) add(`thrash-fallback:${name}`);
      }
      if (c.forcedEmulation) add('forced-emulation');
      cases++;
      instructions += caseInstructions(c);
    }
  }
  const hard = new Set<string>([
    ...(gen.guests === undefined || gen.guests === 'all' ? HARD_CASE_TAGS : []),
    ...PROFILES[gen.guests ?? 'all'].hard,
  ]);
  for (const t of [...hard, ...ENGINE_TAGS]) if (!counts.has(t)) counts.set(t, 0);
  if (gen.forcedEmulation !== 'never') hard.add('forced-emulation');
  for (const t of ENGINE_TAGS.slice(0, 2)) hard.add(t);
  const tags = [...counts]
    .map(([tag, n]) => ({ tag, percent: (100 * n) / cases, hard: hard.has(tag) }))
    .sort((a, b) => b.percent - a.percent);
  return { cases, meanInstructions: instructions / cases, tags };
}

export function formatStats(s: Stats): string {
  const rows = s.tags.map(
    (t) => `  ${t.tag.padEnd(30)} ${t.percent.toFixed(1).padStart(5)} %${t.hard && t.percent < 5 ? '   below 5 %' : ''}`,
  );
  return [
    `${s.cases} generated cases, ${s.meanInstructions.toFixed(1)} body instructions on average; cases carrying each tag:`,
    ...rows,
  ].join('\n');
}
