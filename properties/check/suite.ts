// The property suite as `popek check` runs it: each property is a predicate over a
// generated guest case for one engine (with optional catalog bugs switched on). A chunk
// of runs is one `fc.check` at one seed; a failure comes back shrunk, with its replay
// coordinates and the first divergence, ready to be written to a replay file.

import fc from 'fast-check';
import { assemble } from '../../spec/asm/assemble.ts';
import type { Engine, HostEvent, Image, MachineConfig, Observation } from '../../spec/observation.ts';
import { BtEngine } from '../../src/engines/bt.ts';
import { VmxEptEngine } from '../../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../../src/engines/vmx-shadow.ts';
import { diffObservations } from '../lockstep/compare.ts';
import { engineFactory } from '../../src/engines/registry.ts';
import { engineLabel, isPluginPath, pluginCapabilities } from '../../src/engines/plugin.ts';
import { checkCaseArb, failureFile, type CaseGen, type CheckCase } from './cases.ts';
import { MIN_GUEST_FRAMES } from '../../src/vmm/core/host.ts';
import type { EngineFactory } from '../../src/engines/engine.ts';
import { lockstep, release } from '../lockstep/lockstep.ts';
import type { Divergence } from '../lockstep/lockstep.ts';
import { formatDivergence, type FormatOptions } from '../lockstep/report.ts';
import type { Failure } from './replay-file.ts';
import { EngineHung, guarded } from '../../src/engines/guard.ts';

/**
 * What a property reads of a case: what a replay file keeps of it, so `popek replay` can
 * re-check any property; a generated case also brings its assembled image (cases.ts).
 */
export type SavedCase = Pick<CheckCase, 'source' | 'events' | 'ramBytes' | 'maxSteps'> & { image?: Image };

export interface PropertyDef {
  name: string;
  /** What a failure means, for the report. */
  meaning: string;
  /** The engines it is about (default: every engine). */
  engines?: readonly string[];
  /** undefined when the property holds for this case, else the failure as text. */
  check(c: SavedCase, engine: string, bugs: readonly string[]): string | undefined;
}

/** Lockstep equivalence with the spec, under the host events the case schedules (DESIGN §7). */
export const equivalence: PropertyDef = {
  name: 'equivalence',
  meaning: 'the engine and the spec disagree on a guest-visible field',
  check(c, engine, bugs) {
    const d = lockstepDivergence(c, engine, bugs);
    return d ? formatDivergence(d, engineLabel(engine)) : undefined;
  },
};

/**
 * The VMX engines with their emulator in front of every hidden fault (`forceEmulation`,
 * as properties/insn-states does): a case with `forcedEmulation` runs them so.
 */
const FORCED: Readonly<Record<string, EngineFactory>> = {
  'vmx-shadow': (image, config) => new VmxShadowEngine(image, config, { forceEmulation: true }),
  'vmx-ept': (image, config) => new VmxEptEngine(image, config, { forceEmulation: true }),
};

export const FORCED_EMULATION_ENGINES: readonly string[] = Object.keys(FORCED);

/**
 * DESIGN §6.14: no guest input may crash the host. A property whose engine throws (a
 * freed frame, an out-of-range access) has found a bug: the throw is its failure, with the
 * message, so it is shrunk and saved like any other — never a crash of popek. A failed
 * audit is the audit property's own finding and keeps its text.
 */
export function crashText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith('popek: audit failed') ? message : `engine crashed: ${message}`;
}

function crashesAreFindings(p: PropertyDef): PropertyDef {
  return {
    ...p,
    check(c, engine, bugs) {
      try {
        return p.check(c, engine, bugs);
      } catch (err) {
        return crashText(err);
      }
    },
  };
}

/** What the VMM-only properties need of a VM on the host: its audit and its RAM as the guest sees it. */
interface HostedVm {
  audit(): string[];
  p2m: { snapshot(into: Uint8Array): Uint8Array };
}

/** An engine run as a VMM on simulated host hardware, with its VM and an optional second VM. */
interface HostedEngine {
  run(events: readonly HostEvent[], maxSteps: number): Observation;
  readonly vm: HostedVm;
  readonly companion: HostedVm | null;
}

/**
 * How hard a property squeezes the VMM's own structures (DESIGN §6.10): `audit` — small
 * enough that eviction and root or table rebuilds happen often; `squeeze` — as small as
 * works at all; `smallest` — the working set of one instruction that runs natively, its
 * fetch (the generated guests fetch within one 4 MiB region: the root and one shadow
 * table, one EPT table), so anything needing more thrashes into the emulator; `shared` —
 * two VMs, room for both.
 */
type Pressure = 'audit' | 'squeeze' | 'smallest' | 'shared';

interface HostShape {
  pressure: Pressure;
  /** Host frames for guest RAM, both VMs together; fewer than their frames is overcommit (DESIGN §6.8). */
  hostGuestFrames?: number;
  auditEveryExit?: boolean;
  companion?: { image: Image; ramBytes: number };
}

/**
 * The smallest shadow pool (DESIGN §6.10): the active root and one table, which serves a
 * fetch within one 4 MiB region. An access through another table evicts the fetch's, the
 * fetch evicts it back: the thrashing fallback (THRASHING_STALLS) must then emulate.
 */
export const SMALLEST_SHADOW_POOL = { maxShadowPages: 2, maxRoots: 1 } as const;

/** The shadow pool at each pressure level, for the two shadow-paging VMMs (vmx-shadow, bt). */
const SHADOW_POOLS = {
  audit: { maxShadowPages: 6, maxRoots: 2 },
  squeeze: { maxShadowPages: 5, maxRoots: 1 },
  smallest: SMALLEST_SHADOW_POOL,
  shared: { maxShadowPages: 8 },
} as const;

/** The VMMs with a host beneath them: each names what its pressure levels mean. */
const HOSTED: Readonly<Record<string, (image: Image, config: MachineConfig, shape: HostShape) => HostedEngine>> = {
  'vmx-shadow': (image, config, { pressure, ...shape }) => new VmxShadowEngine(image, config, { ...shape, ...SHADOW_POOLS[pressure] }),
  'vmx-ept': (image, config, { pressure, ...shape }) => {
    // One EPT table for the whole VM: every access outside the last 4 MiB region evicts it.
    const tables = { audit: { maxEptTables: 1 }, squeeze: { maxEptTables: 1 }, smallest: { maxEptTables: 1 }, shared: {} }[pressure];
    return new VmxEptEngine(image, config, { ...shape, ...tables });
  },
  bt: (image, config, { pressure, companion, auditEveryExit, hostGuestFrames }) => {
    // One VM per host: bt has no second VM, so isolation and noninterference are not about it.
    if (companion) throw new RangeError('popek: bt runs one VM per host');
    return new BtEngine(image, config, { ...SHADOW_POOLS[pressure], hostGuestFrames, auditEveryTrap: auditEveryExit });
  },
};

export const HOSTED_ENGINES: readonly string[] = Object.keys(HOSTED);
/** The hosted engines that can share their host with a second VM. */
const SHARED_HOST_ENGINES: readonly string[] = HOSTED_ENGINES.filter((e) => e !== 'bt');

function hosted(engine: string): (image: Image, config: MachineConfig, shape: HostShape) => HostedEngine {
  const make = HOSTED[engine];
  if (make === undefined) throw new RangeError(`engine '${engine}' runs no VM on a host (one of ${HOSTED_ENGINES.join(', ')})`);
  return make;
}

/** The audit of DESIGN §6.13 after every exit and host event, on a VMM squeezed to evict often. */
export const auditEveryExit: PropertyDef = {
  name: 'audit',
  meaning: 'a VMM invariant (DESIGN §6.13) is broken after some exit',
  engines: HOSTED_ENGINES,
  check(c, engine, bugs) {
    if (isPluginPath(engine)) return auditedLockstep(c, engine, bugs);
    const e = hosted(engine)(imageOf(c), { ramBytes: c.ramBytes, bugs }, { pressure: 'audit', auditEveryExit: true });
    try {
      e.run(c.events, c.maxSteps);
      return undefined;
    } catch (err) {
      return crashText(err);
    } finally {
      release(e);
    }
  },
};

/** Run an engine built for this one run, then hand its buffers on (lockstep.ts `release`). */
function runOnce(e: { run(events: readonly HostEvent[], maxSteps: number): Observation }, events: readonly HostEvent[], maxSteps: number) {
  try {
    return e.run(events, maxSteps);
  } finally {
    release(e);
  }
}

/** A plugin engine with `audit()` (plugin.ts): its audit after every step, in lockstep with the spec. */
function auditedLockstep(c: SavedCase, engine: string, bugs: readonly string[]): string | undefined {
  const make = engineFactory(engine);
  const audited = (image: Image, config: MachineConfig): Engine => {
    const e = make(image, { ...config, bugs }) as Engine & { audit(): string[] };
    const step = e.step.bind(e);
    e.step = () => {
      const outcome = step();
      const violations = e.audit();
      if (violations.length > 0) throw new Error(`audit failed:\n${violations.join('\n')}`);
      return outcome;
    };
    return e;
  };
  const r = lockstep(audited, { image: imageOf(c), config: { ramBytes: c.ramBytes }, events: c.events, maxSteps: c.maxSteps });
  return r.divergence ? formatDivergence(r.divergence, engineLabel(engine)) : undefined;
}

/** Final observations of two runs, as text when they differ. */
function differs(a: Observation, b: Observation, what: string): string | undefined {
  const d = diffObservations(a, b);
  return d.length === 0
    ? undefined
    : `${what}:\n${d.map((f) => `  ${f.path}: ${JSON.stringify(f.spec)} vs ${JSON.stringify(f.engine)}`).join('\n')}`;
}

/**
 * Host-event transparency (DESIGN §7): the same guest with its host-only events and
 * without them ends with identical observations; for a VMM also on a host that
 * overcommits RAM 4:1 with its own structures squeezed to the minimum, and on the
 * smallest host the VMM accepts (MIN_GUEST_FRAMES and the `smallest` pool: the working set of one instruction),
 * where every instruction that needs more is emulated (the thrashing fallback).
 */
export const hostEventTransparency: PropertyDef = {
  name: 'transparency',
  meaning: 'a host-only event (swap, migrate, evict, flush, reclaim, switch) changed what the guest observes',
  check(c, engine, bugs) {
    const make = engineFactory(engine);
    const image = imageOf(c);
    const config = { ramBytes: c.ramBytes, bugs };
    const withEvents = runOnce(make(image, config), c.events, c.maxSteps);
    const irqsOnly = runOnce(
      make(image, config),
      c.events.filter((e) => e.kind === 'irq'),
      c.maxSteps,
    );
    const d = differs(irqsOnly, withEvents, 'without host events vs with them');
    const host = HOSTED[engine];
    if (d !== undefined || host === undefined) return d;
    const squeezed = runOnce(
      host(image, config, { pressure: 'squeeze', hostGuestFrames: Math.max(2, Math.floor(c.ramBytes / 4096 / 4)) }),
      c.events,
      c.maxSteps,
    );
    const s = differs(irqsOnly, squeezed, 'roomy host vs overcommitted host with the VMM squeezed');
    if (s !== undefined || !SMALLEST_HOST_ENGINES.includes(engine)) return s;
    const smallest = host(image, config, { pressure: 'smallest', hostGuestFrames: MIN_GUEST_FRAMES }).run(c.events, c.maxSteps);
    return differs(irqsOnly, smallest, `roomy host vs the smallest host (${MIN_GUEST_FRAMES} frames for guest RAM)`);
  },
};

/**
 * The VMMs checked on the smallest host. vmx-ept joined once its thrashing fallback stopped
 * sending the first fault after a finished streak to the emulator (tests/vmm/thrash-streak.test.ts,
 * found by this very check).
 */
const SMALLEST_HOST_ENGINES: readonly string[] = ['vmx-shadow', 'vmx-ept'];

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
 * guest's mappings reach only its own frames, the bystander's canaries never change and
 * no audit of either VM fails, whatever the guest and the host events do.
 */
export const isolation: PropertyDef = {
  name: 'isolation',
  meaning: 'a guest reached memory it was not given (another VM, the VMM pool)',
  engines: SHARED_HOST_ENGINES,
  check(c, engine, bugs) {
    const by = bystanderImage();
    const e = hosted(engine)(
      imageOf(c),
      { ramBytes: c.ramBytes, bugs },
      {
        pressure: 'shared',
        companion: { image: by, ramBytes: BYSTANDER_RAM },
        hostGuestFrames: Math.max(4, Math.floor((c.ramBytes + BYSTANDER_RAM) / 4096 / 2)),
      },
    );
    try {
      e.run([...c.events, { at: 0, kind: 'switch-vm' }], c.maxSteps);
    } catch (err) {
      return crashText(err);
    }
    const other = e.companion!;
    const ram = other.p2m.snapshot(new Uint8Array(BYSTANDER_RAM));
    const expected = by.chunks[0]!.bytes;
    for (let i = 0; i < ram.length; i++) if (ram[i] !== expected[i]) return `the bystander VM's RAM changed at 0x${i.toString(16)}`;
    const audits = [...e.vm.audit(), ...other.audit()];
    release(e);
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
  engines: SHARED_HOST_ENGINES,
  check(c, engine, bugs) {
    const image = imageOf(c);
    const events = [...c.events, { at: 0, kind: 'switch-vm' as const }, { at: Math.floor(c.maxSteps / 3), kind: 'switch-vm' as const }];
    const frames = Math.max(4, Math.floor((2 * c.ramBytes) / 4096 / 3));
    const run = (companion: { image: Image; ramBytes: number }) =>
      runOnce(
        hosted(engine)(image, { ramBytes: c.ramBytes, bugs }, { pressure: 'shared', companion, hostGuestFrames: frames }),
        events,
        c.maxSteps,
      );
    try {
      return differs(
        run({ image: bystanderImage(), ramBytes: BYSTANDER_RAM }),
        run({ image, ramBytes: c.ramBytes }),
        'idle neighbour vs busy neighbour',
      );
    } catch (err) {
      return crashText(err);
    }
  },
};

/** Whether `p` says anything about `engine` (the VMM-only properties need a host beneath it). */
export const appliesTo = (p: PropertyDef, engine: string): boolean =>
  p.engines === undefined || p.engines.includes(engine) || (p.name === auditEveryExit.name && pluginCapabilities(engine)?.audit === true);

export const PROPERTIES: readonly PropertyDef[] = [equivalence, auditEveryExit, hostEventTransparency, isolation, noninterference].map(
  crashesAreFindings,
);

/** The case's image: a generated case has it, a replay file's source is assembled once (issue 15.3). */
const images = new Map<string, Image>();
function imageOf(c: { readonly source: string; image?: Image | undefined }): Image {
  if (c.image !== undefined) return c.image; // before c.source, which a generated case renders when read
  const source = c.source;
  let image = images.get(source);
  if (image === undefined) {
    image = assemble(source, 'generated.s').image;
    if (images.size > 64) images.clear();
    images.set(source, image);
  }
  return image;
}

type LockstepCase = SavedCase & { forcedEmulation?: boolean | undefined };

/** The first divergence of the case in lockstep with the spec, or undefined. */
function lockstepDivergence(c: LockstepCase, engine: string, bugs: readonly string[]): Divergence | undefined {
  const make = (c.forcedEmulation ? FORCED[engine] : undefined) ?? engineFactory(engine);
  return lockstep((image, config) => make(image, { ...config, bugs }), {
    image: imageOf(c),
    config: { ramBytes: c.ramBytes },
    events: c.events,
    maxSteps: c.maxSteps,
  }).divergence;
}

/** The first divergence of the program `source` run as `c` says, or undefined. */
export function firstDivergence(
  source: string,
  c: Omit<LockstepCase, 'source'>,
  engine: string,
  bugs: readonly string[],
): Divergence | undefined {
  const { events, ramBytes, maxSteps, forcedEmulation, image } = c;
  return lockstepDivergence({ source, image, events, ramBytes, maxSteps, forcedEmulation }, engine, bugs);
}

export function divergenceOf(
  source: string,
  c: Omit<LockstepCase, 'source'>,
  engine: string,
  bugs: readonly string[],
  opts: FormatOptions = {},
): string | undefined {
  const d = firstDivergence(source, c, engine, bugs);
  return d ? formatDivergence(d, engineLabel(engine), opts) : undefined;
}

/**
 * What makes two failures the same for `check --keep-going` (issue 14.5): for a divergence,
 * the first diverging instruction with its registers, numbers and memory operands
 * abstracted (`mov r, cs`, `sidt [m]`) and the first differing field (`regs` for any
 * register, `ram` for any address); for the other
 * properties, the first line of the failure with its numbers abstracted.
 */
export function divergenceSignature(d: Divergence): string {
  const insn = d.insn
    .replace(/\[[^\]]*\]/g, '[m]')
    .replace(/\b(e[a-d]x|e[sd]i|e[sb]p|[a-d]l|[sd]il|[sb]pl)\b/g, 'r')
    .replace(/-?\b(0x[0-9a-f]+|\d+)\b/gi, 'n');
  const field =
    d.error !== undefined
      ? 'engine threw'
      : d.fields[0]
        ? d.fields[0].path.replace(/\[.*$/, '').replace(/^regs\..*/, 'regs') // registers are abstracted in the instruction too
        : `outcome ${d.outcome.spec}/${d.outcome.engine}`;
  return `${insn} -> ${field}`;
}

const textSignature = (text: string) => (text.split('\n')[0] ?? '').replace(/-?\b(0x[0-9a-f]+|\d+)\b/gi, 'N');

/** The failure of `prop` on the case as text and signature, or undefined when it holds (one lockstep run for equivalence). */
export function failureOf(
  prop: PropertyDef,
  c: CheckCase,
  engine: string,
  bugs: readonly string[],
  timeoutMs?: number,
): { text: string; signature: string } | undefined {
  const failure = (): { text: string; signature: string } | undefined => {
    if (prop.name === equivalence.name) {
      const d = lockstepDivergence(c, engine, bugs);
      return d && { text: formatDivergence(d, engineLabel(engine)), signature: `${engine} ${prop.name}: ${divergenceSignature(d)}` };
    }
    const text = prop.check(c, engine, bugs);
    return text === undefined ? undefined : { text, signature: `${engine} ${prop.name}: ${textSignature(text)}` };
  };
  // A plugin engine (timeoutMs set) runs guarded: one that does not return fails the case (guard.ts).
  if (timeoutMs === undefined) return failure();
  try {
    return guarded(failure, timeoutMs);
  } catch (e) {
    if (e instanceof EngineHung) return { text: e.message, signature: `${engine} ${prop.name}: hung` };
    throw e;
  }
}

export type { Failure };

export interface ChunkOutcome {
  k: number;
  runs: number;
  failure?: Failure;
}

/**
 * The property's verdict on one case. With `timeoutMs` (a plugin engine, DESIGN §5) the
 * case runs guarded: an engine that does not return fails the case (guard.ts).
 */
export function checkCase(
  prop: PropertyDef,
  c: CheckCase,
  engine: string,
  bugs: readonly string[],
  timeoutMs?: number,
): string | undefined {
  if (timeoutMs === undefined) return prop.check(c, engine, bugs);
  try {
    return guarded(() => prop.check(c, engine, bugs), timeoutMs);
  } catch (e) {
    if (e instanceof EngineHung) return e.message;
    throw e;
  }
}

/** Run chunk k of a campaign: `numRuns` cases from `seed`; `timeoutMs` guards a plugin engine. */
export function runChunk(
  prop: PropertyDef,
  engine: string,
  bugs: readonly string[],
  k: number,
  seed: number,
  numRuns: number,
  timeoutMs?: number,
  gen: CaseGen = {},
): ChunkOutcome {
  // Forced emulation only means something to the VMX engines: elsewhere never draw it.
  const forcedEmulation = FORCED[engine] === undefined ? 'never' : gen.forcedEmulation;
  const result = fc.check(
    fc.property(checkCaseArb({ ...gen, forcedEmulation }), (c) => checkCase(prop, c, engine, bugs, timeoutMs) === undefined),
    { seed, numRuns },
  );
  if (!result.failed || result.counterexample === null) return { k, runs: result.numRuns };
  return { k, runs: result.numRuns, failure: failureRecord(prop, engine, bugs, result, result.counterexample[0], timeoutMs) };
}

/**
 * Run chunk k for `check --keep-going` (issue 14.5): a failure whose signature is in
 * `known` counts as a pass — also while shrinking, so each shrink ends on a failure of a
 * new kind — and after each new failure the chunk starts over, until it passes.
 * `known` grows; the chunks of a campaign share it, run in order.
 */
export function runChunkKeepGoing(
  prop: PropertyDef,
  engine: string,
  bugs: readonly string[],
  seed: number,
  numRuns: number,
  known: Set<string>,
  timeoutMs?: number,
  gen: CaseGen = {},
): { runs: number; failures: Failure[] } {
  const failures: Failure[] = [];
  let runs = 0;
  for (;;) {
    const result = fc.check(
      fc.property(checkCaseArb({ ...gen, forcedEmulation: FORCED[engine] === undefined ? 'never' : gen.forcedEmulation }), (c) => {
        const f = failureOf(prop, c, engine, bugs, timeoutMs);
        return f === undefined || known.has(f.signature);
      }),
      { seed, numRuns },
    );
    runs += result.numRuns;
    if (!result.failed || result.counterexample === null) return { runs, failures };
    const failure = failureRecord(prop, engine, bugs, result, result.counterexample[0], timeoutMs);
    if (known.has(failure.signature)) return { runs, failures }; // cannot happen: the predicate passed it
    known.add(failure.signature);
    failures.push(failure);
  }
}

function failureRecord(
  prop: PropertyDef,
  engine: string,
  bugs: readonly string[],
  result: fc.RunDetails<[CheckCase]>,
  c: CheckCase,
  timeoutMs?: number,
): Failure {
  const f = failureOf(prop, c, engine, bugs, timeoutMs);
  return failureFile(result, c, {
    property: prop.name,
    engine,
    bugs: [...bugs],
    ...(c.forcedEmulation ? { forcedEmulation: true } : {}),
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- what the property threw: an Error ('Error: message') or a primitive
    divergence: f?.text ?? String(result.errorInstance ?? 'the property failed'),
    signature: f?.signature ?? `${engine} ${prop.name}: threw`,
  });
}
