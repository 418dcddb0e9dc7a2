// `popek check --stats`: which hard cases the generated guests of a campaign reach
// (DESIGN §7, fc.statistics-style), computed from the cases and one spec run of each; and
// how often the VMX engines reach their thrashing fallback on the smallest host the
// `transparency` property runs them on, and how many cases run with forced emulation.

import fc from 'fast-check';
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
      const image = c.image;
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

/** The table, each tag with what it means (issue 14.10: a legend for every label). */
export function formatStats(s: Stats): string {
  const rows = s.tags.map(
    (t) =>
      `  ${t.tag.padEnd(28)} ${t.percent.toFixed(1).padStart(5)} %  ${t.hard && t.percent < 5 ? '(below 5 %) ' : ''}${TAG_MEANINGS[t.tag] ?? ''}`,
  );
  return [
    `${s.cases} generated cases, ${s.meanInstructions.toFixed(1)} body instructions on average.`,
    'Cases carrying each tag (a case carries a tag when it contains the thing, or its spec run shows it):',
    ...rows,
    '(below 5 %): a hard case of DESIGN §7 the generator reaches in fewer than 5 % of cases.',
  ].join('\n');
}

/** What each tag means (issue 14.10): `check --stats` prints this under the table. */
export const TAG_MEANINGS: Readonly<Record<string, string>> = {
  paging: 'paging is on at some point (CR0.PG)',
  '4M-page': 'a 4 MiB page (CR4.PSE, PDE.PS) is touched',
  alias: 'two gvas map one frame and both are used',
  recursive: 'a page directory maps itself and the guest goes through it',
  'pt-edit-live': 'the guest edits a live PTE or PDE, then uses the mapping',
  'cr3-switch': 'the guest switches address space (mov cr3)',
  'wp-toggle': 'CR0.WP flips',
  'pse-toggle': 'CR4.PSE flips',
  'paging-toggle': 'CR0.PG flips',
  invlpg: 'an invlpg',
  'user-piece': 'a piece that runs code at ring 3',
  'ring-1-2-piece': 'a piece that runs code at ring 1 or 2',
  'user-mode': 'an event really arrived while at ring 3',
  'ring-1-2-mode': 'an event really arrived while at ring 1 or 2',
  straddle: 'an access straddles a page boundary',
  'straddle-ram-end': 'an access straddles the end of RAM',
  'byte-access': 'a one-byte access',
  mmio: 'the MMIO device is used',
  console: 'bytes are written to the console (port 0xE9)',
  loop: 'a loop',
  'fetch-through-window': 'code is fetched through a remapped window (far call)',
  'cli-sti-popf-hlt': 'a piece that plays with IF: cli, sti, popf, hlt',
  irq: 'the schedule raises an external interrupt',
  'irq-delivered': 'an external interrupt is delivered',
  'irq-around-cli-sti-popf-hlt': 'an interrupt arrives inside a cli/sti/popf/hlt piece',
  'sti-shadow': 'an interrupt waits out the STI shadow',
  'hlt-wakeup': 'an interrupt wakes a hlt',
  'host-events': 'the schedule has host-only events (swap, migrate, evict, flush, reclaim, switch)',
  'sensitive-unprivileged': 'a sensitive unprivileged instruction (pushf, popf, sidt, str, mov r, cs …)',
  'popf-cpl3': 'a popf at ring 3',
  'priv-at-cpl>0': 'a privileged instruction at an outer ring (#GP)',
  'invalid-encoding': 'an invalid encoding (#UD)',
  'delivery-fault-piece': 'a piece set up to fault during event delivery',
  'fatal-piece': 'a piece set up to end in a triple fault',
  'delivery-fault': 'a fault really happened during delivery (gate #GP/#NP, #DF or shutdown)',
  'double-fault': 'a #DF handler is entered',
  'triple-fault': 'the run ends in shutdown',
  'page-fault': 'a #PF handler is entered',
  'pf-user': 'a #PF with the U/S bit in its error code',
  'pf-rsvd': 'a #PF with the RSVD bit in its error code',
  'status-running': 'the run ends at the step budget',
  'status-halted': 'the run ends halted',
  'status-shutdown': 'the run ends in shutdown',
  'body-completed': 'the run reaches the end of the generated body',
};
