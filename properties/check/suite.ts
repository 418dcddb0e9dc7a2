// The property suite as `popek check` runs it: each property is a predicate over a
// generated guest case for one engine (with optional catalog bugs switched on). A chunk
// of runs is one `fc.check` at one seed; a failure comes back shrunk, with its replay
// coordinates and the first divergence, ready to be written to a replay file.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import type { Image, Observation } from '../../spec/observation.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { diffObservations } from '../lockstep/compare.ts';
import { engineFactory } from '../../src/cli/engines.ts';
import { caseArb, caseInstructions, type CheckCase } from './cases.ts';
import { lockstep } from '../lockstep/lockstep.ts';
import { formatDivergence } from '../lockstep/report.ts';
import type { ReplayFile } from './replay-file.ts';

export interface PropertyDef {
  name: string;
  /** What a failure means, for the report. */
  meaning: string;
  /** undefined when the property holds for this case, else the failure as text. */
  check(c: CheckCase, engine: string, bugs: readonly string[]): string | undefined;
}

/** Lockstep equivalence with the spec, under the host events the case schedules (DESIGN §7). */
export const equivalence: PropertyDef = {
  name: 'equivalence',
  meaning: 'the engine and the spec disagree on a guest-visible field',
  check(c, engine, bugs) {
    return divergenceOf(c.source, c, engine, bugs);
  },
};

/** vmx-shadow only: the audit of DESIGN §6.13 after every exit, on a tight shadow pool. */
export const auditEveryExit: PropertyDef = {
  name: 'audit',
  meaning: 'a shadow-MMU invariant (DESIGN §6.13) is broken after some exit',
  check(c, engine, bugs) {
    if (engine !== 'vmx-shadow') return undefined;
    // A small pool and two cached roots force eviction and root rebuilds often.
    const e = new VmxShadowEngine(imageOf(c.source), { ramBytes: c.ramBytes, bugs }, { auditEveryExit: true, maxShadowPages: 6, maxRoots: 2 });
    try {
      e.run(c.events, c.maxSteps);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },
};

/** Final observations of two runs, as text when they differ. */
function differs(a: Observation, b: Observation, what: string): string | undefined {
  const d = diffObservations(a, b);
  return d.length === 0 ? undefined : `${what}:\n${d.map((f) => `  ${f.path}: ${JSON.stringify(f.spec)} vs ${JSON.stringify(f.engine)}`).join('\n')}`;
}

/**
 * Host-event transparency (DESIGN §7): the same guest with its host-only events and
 * without them ends with identical observations; for vmx-shadow also on a host that
 * overcommits RAM 4:1, with a 5-page shadow pool and a single cached root.
 */
export const hostEventTransparency: PropertyDef = {
  name: 'transparency',
  meaning: 'a host-only event (swap, migrate, evict, flush, reclaim, switch) changed what the guest observes',
  check(c, engine, bugs) {
    const make = engineFactory(engine);
    const image = imageOf(c.source);
    const config = { ramBytes: c.ramBytes, bugs };
    const withEvents = make(image, config).run(c.events, c.maxSteps);
    const irqsOnly = make(image, config).run(c.events.filter((e) => e.kind === 'irq'), c.maxSteps);
    const d = differs(irqsOnly, withEvents, 'without host events vs with them');
    if (d !== undefined || engine !== 'vmx-shadow') return d;
    const squeezed = new VmxShadowEngine(image, config, { hostGuestFrames: Math.max(2, Math.floor(c.ramBytes / 4096 / 4)), maxShadowPages: 5, maxRoots: 1 }).run(c.events, c.maxSteps);
    return differs(irqsOnly, squeezed, 'roomy host vs overcommitted host with a tiny shadow pool');
  },
};

/** The bystander VM of the isolation property: RAM full of canaries, a loop that reads them. */
const CANARY = 0xa5;
const BYSTANDER_RAM = 0x10000;
function bystanderImage(): Image {
  const bytes = new Uint8Array(BYSTANDER_RAM).fill(CANARY);
  // At 0: `mov eax, [0x8000]; jmp 0` (DESIGN §3.3 encoding), paging off.
  bytes.set([0x12, 0x00, 0x08, 0x00, 0x00, 0x80, 0x00, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0], 0);
  return { chunks: [{ addr: 0, bytes }], entry: 0 };
}

/**
 * Isolation (DESIGN §6.13, §7): with a second VM on the same overcommitted host, the
 * guest's sptes reach only its own frames, the bystander's canaries never change and no
 * audit of either VM fails, whatever the guest and the host events do.
 */
export const isolation: PropertyDef = {
  name: 'isolation',
  meaning: 'a guest reached memory it was not given (another VM, the VMM pool)',
  check(c, engine, bugs) {
    if (engine !== 'vmx-shadow') return undefined;
    const by = bystanderImage();
    const e = new VmxShadowEngine(imageOf(c.source), { ramBytes: c.ramBytes, bugs }, {
      companion: { image: by, ramBytes: BYSTANDER_RAM },
      hostGuestFrames: Math.max(4, Math.floor((c.ramBytes + BYSTANDER_RAM) / 4096 / 2)),
      maxShadowPages: 8,
    });
    try {
      e.run([...c.events, { at: 0, kind: 'switch-vm' }], c.maxSteps);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    const other = e.companion!;
    const ram = other.p2m.snapshot(new Uint8Array(BYSTANDER_RAM));
    const expected = by.chunks[0]!.bytes;
    for (let i = 0; i < ram.length; i++) if (ram[i] !== expected[i]) return `the bystander VM's RAM changed at 0x${i.toString(16)}`;
    const audits = [...e.vm.audit(), ...other.audit()];
    return audits.length > 0 ? audits.join('\n') : undefined;
  },
};

/**
 * Noninterference (DESIGN §7): the guest's observation on a shared, overcommitted host
 * is the same whether the other VM idles on canaries or runs the same busy program.
 */
export const noninterference: PropertyDef = {
  name: 'noninterference',
  meaning: 'what one VM observes depends on what another VM on the host runs',
  check(c, engine, bugs) {
    if (engine !== 'vmx-shadow') return undefined;
    const image = imageOf(c.source);
    const events = [...c.events, { at: 0, kind: 'switch-vm' as const }, { at: Math.floor(c.maxSteps / 3), kind: 'switch-vm' as const }];
    const frames = Math.max(4, Math.floor((2 * c.ramBytes) / 4096 / 3));
    const run = (companion: { image: Image; ramBytes: number }) =>
      new VmxShadowEngine(image, { ramBytes: c.ramBytes, bugs }, { companion, hostGuestFrames: frames, maxShadowPages: 8 }).run(events, c.maxSteps);
    try {
      return differs(run({ image: bystanderImage(), ramBytes: BYSTANDER_RAM }), run({ image, ramBytes: c.ramBytes }), 'idle neighbour vs busy neighbour');
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },
};

export const PROPERTIES: readonly PropertyDef[] = [equivalence, auditEveryExit, hostEventTransparency, isolation, noninterference];

const images = new Map<string, Image>();
function imageOf(source: string): Image {
  let image = images.get(source);
  if (image === undefined) {
    image = assemble(source, 'generated.s').image;
    if (images.size > 64) images.clear();
    images.set(source, image);
  }
  return image;
}

export function divergenceOf(source: string, c: Pick<CheckCase, 'events' | 'ramBytes' | 'maxSteps'>, engine: string, bugs: readonly string[]): string | undefined {
  const make = engineFactory(engine);
  const r = lockstep((image, config) => make(image, { ...config, bugs }), {
    image: imageOf(source),
    config: { ramBytes: c.ramBytes },
    events: c.events,
    maxSteps: c.maxSteps,
  });
  return r.divergence ? formatDivergence(r.divergence, engine) : undefined;
}

export interface ChunkOutcome {
  k: number;
  runs: number;
  failure?: ReplayFile & { shrinks: number };
}

/** Run chunk k of a campaign: `numRuns` cases from `seed`. */
export function runChunk(prop: PropertyDef, engine: string, bugs: readonly string[], k: number, seed: number, numRuns: number): ChunkOutcome {
  const result = fc.check(
    fc.property(caseArb, (c) => prop.check(c, engine, bugs) === undefined),
    { seed, numRuns },
  );
  if (!result.failed || result.counterexample === null) return { k, runs: result.numRuns };
  const [c] = result.counterexample;
  const divergence = prop.check(c, engine, bugs) ?? String(result.errorInstance ?? 'the property failed');
  return {
    k,
    runs: result.numRuns,
    failure: {
      popek: 'counterexample',
      version: 1,
      property: prop.name,
      engine,
      bugs: [...bugs],
      seed: result.seed,
      path: result.counterexamplePath ?? '',
      source: c.source,
      events: c.events,
      ramBytes: c.ramBytes,
      maxSteps: c.maxSteps,
      instructions: caseInstructions(c),
      divergence,
      shrinks: result.numShrinks,
    },
  };
}
