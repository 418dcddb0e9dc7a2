// `popek check --stats`: which hard cases the generated guests of a campaign reach
// (DESIGN §7, fc.statistics-style), computed from the cases and one spec run of each.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import { runSpec } from '../../spec/machine.ts';
import { HARD_CASE_TAGS, labelsOf, runtimeLabels } from '../arbitraries/labels.ts';
import { caseArb, caseInstructions } from './cases.ts';
import { chunkSeed, chunksOf } from './seeds.ts';

export interface Stats {
  cases: number;
  meanInstructions: number;
  /** Percentage of cases carrying each tag, most frequent first. */
  tags: { tag: string; percent: number; hard: boolean }[];
}

/** The same cases a campaign with this seed and run count generates (chunk by chunk). */
export function caseStats(runs: number, seed: number): Stats {
  const counts = new Map<string, number>();
  let cases = 0;
  let instructions = 0;
  for (const { k, runs: n } of chunksOf(runs)) {
    for (const c of fc.sample(caseArb, { seed: chunkSeed(seed, k), numRuns: n })) {
      const { image } = assemble(c.source, 'generated.s');
      const obs = runSpec(image, { ramBytes: c.ramBytes }, c.events, c.maxSteps);
      for (const tag of new Set([...labelsOf(c.guest), ...runtimeLabels(c.guest, obs)])) counts.set(tag, (counts.get(tag) ?? 0) + 1);
      cases++;
      instructions += caseInstructions(c);
    }
  }
  const hard = new Set<string>(HARD_CASE_TAGS);
  for (const t of hard) if (!counts.has(t)) counts.set(t, 0);
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
