// Every instruction in contrasting states (properties/insn-states/README.md): ONE VX32
// instruction run in a random machine state — ring, IOPL, IF, paging and page
// permissions, ESP0, a stack that may be bad, a gate that may be broken — and each
// equivalent engine must end exactly where the spec ends (DESIGN §2, §3.3–3.7, §7).
// A few dozen steps a case, so thousands of cases per engine; the suite's teeth are
// catalog bugs switched on (DESIGN §8), never a weakened spec.

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { assemble } from '../spec/asm/assemble.ts';
import { SpecMachine } from '../spec/machine.ts';
import type { Engine, Image, Observation } from '../spec/observation.ts';
import type { EngineFactory } from '../src/engines/engine.ts';
import { engineFactory } from '../src/engines/registry.ts';
import { VmxEptEngine } from '../src/engines/vmx-ept.ts';
import { VmxShadowEngine } from '../src/engines/vmx-shadow.ts';
import { MMIO, V_DF, V_GP, V_PF, V_UD } from './arbitraries/layout.ts';
import { runsOf } from './budget.ts';
import { insnCaseArb } from './insn-states/case.ts';
import { OPS } from './insn-states/encoding.ts';
import { encodeInsn, insnAddr } from './insn-states/insn.ts';
import { DSTACK } from './insn-states/layout.ts';
import { pagingOn } from './insn-states/paging.ts';
import { imageOf, prologueSteps, registersOf, render } from './insn-states/render.ts';
import type { InsnCase } from './insn-states/state.ts';
import { diffState } from './lockstep/compare.ts';
import { lockstep, release } from './lockstep/lockstep.ts';
import { formatDivergence } from './lockstep/report.ts';

const SEED = 0x1a5e57a7;
/**
 * Cases per engine. A case costs the engine 0.3 ms (interpret) to 3 ms (vmx-ept: most of
 * it building the host), and the spec's side ~1 ms once (cached below, shared by the
 * engines). The interpreter gets the most: it is cheap, and its decoder checks each rule
 * of §3.3 per opcode, so a rule of one opcode is met in ~0.2 % of cases — enough under
 * mutation testing's tenth only with thousands of cases.
 */
const RUNS: Readonly<Record<string, number>> = { interpret: 5000, native: 1000, 'vmx-shadow': 1000, 'vmx-ept': 1000 };
/** A teeth test must see its bug fail within this many cases (the slowest needs a few hundred). */
const TEETH_RUNS = 1500;

const sha1 = (ram: Uint8Array): string => createHash('sha1').update(ram).digest('hex');

interface Expected {
  image: Image;
  /** The spec's final observation, its RAM replaced by `ramHash` (2000 cases × 64 KiB would be a lot to keep). */
  spec: Observation;
  ramHash: string;
}

/**
 * The four engine tests draw the same cases (one seed), so the image and the spec's run
 * are computed once per case. The key is the case's data: a render of it would cost as
 * much as what it saves.
 */
const expectedCache = new Map<string, Expected>();

function expectedOf(c: InsnCase): Expected {
  const key = JSON.stringify(c);
  let e = expectedCache.get(key);
  if (!e) {
    const image = imageOf(c);
    const spec = new SpecMachine(image, { ramBytes: c.ramBytes }).run(c.events, c.maxSteps);
    e = { image, spec: { ...spec, ram: new Uint8Array(0) }, ramHash: sha1(spec.ram) };
    expectedCache.set(key, e);
  }
  return e;
}

/**
 * The engine `make` builds (`name` in reports), with catalog `bugs` switched on, ends where
 * the spec ends. A failure shows the first diverging step. `seen` gets each engine after its run.
 */
function matchesSpec(
  name: string,
  make: EngineFactory = engineFactory(name),
  bugs: readonly string[] = [],
  seen?: (engine: Engine) => void,
) {
  return fc.property(insnCaseArb, (c) => {
    const e = expectedOf(c);
    const config = { ramBytes: c.ramBytes, bugs };
    const engine = make(e.image, config);
    const got = engine.run(c.events, c.maxSteps);
    seen?.(engine);
    release(engine); // its TLB buffers go to the next case's engine (lockstep.ts)
    const fields = diffState(e.spec, got);
    if (fields.length === 0 && sha1(got.ram) === e.ramHash) return;
    const r = lockstep(make, { image: e.image, config, events: c.events, maxSteps: c.maxSteps }, { ramStride: 1 });
    throw new Error(
      r.divergence
        ? formatDivergence(r.divergence, name)
        : `final observations differ (not step by step): ${JSON.stringify(fields.length ? fields : 'ram')}`,
    );
  });
}

for (const [name, runs] of Object.entries(RUNS)) {
  test(`${name} ≡ spec on ${runsOf(runs)} single instructions in contrasting states`, () => {
    // includeErrorInReport: the first divergence prints under the counterexample program.
    fc.assert(matchesSpec(name), { seed: SEED, numRuns: runsOf(runs), includeErrorInReport: true });
  });
}

// ---- the VMMs' emulators, forced ------------------------------------------------------
//
// The VMX engines in their test mode `forceEmulation` (after KVM's force_emulation_prefix):
// every access that takes a hidden fault or an EPT violation is performed by the VMM's
// emulator, deliveries included. So each instruction the emulator knows meets it here, in
// contrasting states, against the spec — not only the few that reach MMIO or a traced table.
const FORCED: [name: string, make: EngineFactory, runs: number][] = [
  ['vmx-shadow', (i, c) => new VmxShadowEngine(i, c, { forceEmulation: true }), 1000],
  ['vmx-ept', (i, c) => new VmxEptEngine(i, c, { forceEmulation: true }), 1000],
];

const forced = FORCED.map(([name, make, runs]) => ({ name, make, runs: runsOf(runs) }));
test.each(forced)('$name with forced emulation ≡ spec on $runs single instructions', ({ name, make, runs }) => {
  let emulated = 0;
  const count = (e: Engine) => void (emulated += (e as VmxShadowEngine | VmxEptEngine).counters().forcedEmulations!);
  fc.assert(matchesSpec(`${name} (forced emulation)`, make, [], count), { seed: SEED, numRuns: runs, includeErrorInReport: true });
  // The point of the test: the emulator was in front of the guest, in most cases.
  expect(emulated).toBeGreaterThan(runs);
});

// ---- teeth: catalog bugs switched on must make the property fail ------------------------
//
// Every one of these is reached by one instruction: a #PF at cpl 3 (its U bit; U/S
// enforcement), `sti` with an irq pending (the STI shadow), `cli`/`popf` clearing IF and
// the `hlt` after it exiting to the VMM (shadow IF), any access with paging on (A/D bits).
const TEETH: [engine: string, bug: string][] = [
  ['native', 'pf-no-user-bit'],
  ['native', 'sti-shadow-ignored'],
  ['vmx-shadow', 'popf-no-shadow-if'],
  ['vmx-shadow', 'us-not-enforced'],
  ['vmx-shadow', 'pf-wrong-error-code'],
  ['interpret', 'interpret-no-ad'],
];

test.each(TEETH)('%s with %s fails the property', (engine, bug) => {
  // endOnFailure: the teeth are in finding the bug, not in shrinking it.
  const r = fc.check(matchesSpec(engine, engineFactory(engine), [bug]), { seed: SEED, numRuns: TEETH_RUNS, endOnFailure: true });
  expect(r.failed, `${bug} on ${engine} not caught in ${TEETH_RUNS} cases`).toBe(true);
  console.log(`insn-states: ${bug} on ${engine} caught after ${r.numRuns} case${r.numRuns === 1 ? '' : 's'}`);
});

// ---- the generator ----------------------------------------------------------------------

const flatten = (image: Image): Uint8Array => {
  const ram = new Uint8Array(0x10000);
  for (const { addr, bytes } of image.chunks) ram.set(bytes, addr);
  return ram;
};

test('the program printed is the program run: assemble(render(c)) = imageOf(c)', () => {
  for (const c of fc.sample(insnCaseArb, { seed: SEED, numRuns: runsOf(200) })) {
    const printed = assemble(render(c), 'case.s').image;
    const run = imageOf(c);
    expect(printed.entry).toBe(run.entry);
    expect(Buffer.compare(flatten(printed), flatten(run)), render(c)).toBe(0);
  }
});

/** The linear bytes the instruction's own data access touches, if it has one (DESIGN §3.3 m, §3.4 stacks). */
function accessOf(c: InsnCase): [number, number] | undefined {
  const bytes = encodeInsn(c).bytes;
  const op = OPS.find((o) => o.opcode === bytes[0]);
  if (!op || c.insn.enc !== 'valid') return undefined;
  const regs = registersOf(c);
  const imm = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  const m = ((bytes[2]! & 8 ? 0 : regs[bytes[2]! & 7]!) + imm) >>> 0;
  const esp = regs[4]!;
  switch (op.name) {
    case 'load':
    case 'store':
      return [m, 4];
    case 'movzx':
    case 'store-byte':
      return [m, 1];
    case 'lidt':
    case 'sidt':
      return [m, 6];
    case 'push':
    case 'push-imm':
    case 'pushf':
    case 'call':
    case 'call-reg':
      return [(esp - 4) >>> 0, 4];
    case 'pop':
    case 'popf':
    case 'ret':
      return [esp, 4];
    case 'iret':
      return [esp, 12];
    default:
      return undefined;
  }
}

interface Facts {
  reached: boolean;
  trace: Observation['trace'];
}

/** Run the spec step by step: did the instruction under test execute (retire or fault), and what was delivered. */
function factsOf(c: InsnCase): Facts {
  const m = new SpecMachine(imageOf(c), { ramBytes: c.ramBytes });
  const at = insnAddr(c);
  const k0 = prologueSteps(c);
  const events = [...c.events];
  let reached = false;
  let seen = false;
  for (let steps = 0; steps < c.maxSteps;) {
    while (events.length > 0 && events[0]!.at <= m.icount()) m.fire(events.shift()!);
    const first = !seen && m.s.eip === at && m.s.icount === k0;
    const { icount } = m.s;
    const traced = m.trace.length;
    const out = m.step();
    if (first) {
      seen = true;
      // Executed: it retired, or it faulted (not in its fetch); an irq taken first does not count.
      const e = m.trace[traced];
      const fetchFault = e?.kind === 'exception' && e.vector === V_PF && (e.cr2! - at) >>> 0 < 8;
      reached = m.s.icount > icount || (e !== undefined && e.kind !== 'interrupt' && !fetchFault);
    }
    if (out === 'shutdown') break;
    if (out === 'halted') {
      if (events.length === 0) break;
      m.fire(events.shift()!);
      continue;
    }
    steps++;
  }
  return { reached, trace: m.trace };
}

// Not reduced under mutation testing: it runs no engine, and a smaller sample could dip below 3 %.
test('the generator reaches the hard cases (≥ 3 % each of 2000)', () => {
  const n = 2000;
  const counts = new Map<string, number>();
  const tally = (label: string, yes: boolean): void => void counts.set(label, (counts.get(label) ?? 0) + (yes ? 1 : 0));
  const exception = (f: Facts, v: number): boolean => f.trace.some((e) => e.kind === 'exception' && e.vector === v);
  for (const c of fc.sample(insnCaseArb, { seed: SEED, numRuns: n })) {
    const f = factsOf(c);
    const op = c.insn.enc === 'valid' ? c.insn.op.name : '';
    const acc = f.reached ? accessOf(c) : undefined;
    tally('cpl 3', c.state.cpl === 3);
    tally('cpl 1 or 2', c.state.cpl === 1 || c.state.cpl === 2);
    tally('paging on', pagingOn(c));
    tally('#UD delivered', exception(f, V_UD));
    tally('#GP delivered', exception(f, V_GP));
    tally('#PF delivered', exception(f, V_PF));
    tally('#DF delivered or shutdown', exception(f, V_DF) || f.trace.some((e) => e.kind === 'shutdown'));
    tally('iret executed', f.reached && op === 'iret');
    tally('MMIO access', acc !== undefined && acc[0] + acc[1] > MMIO && acc[0] < MMIO + 0x1000);
    tally('IOPL ≥ cpl with cli/sti/in/out', f.reached && ['cli', 'sti', 'in', 'out'].includes(op) && c.state.iopl >= c.state.cpl);
    // Shown, not required:
    tally('(IOPL < cpl with cli/sti/in/out)', f.reached && ['cli', 'sti', 'in', 'out'].includes(op) && c.state.iopl < c.state.cpl);
    tally('(instruction executed)', f.reached);
    tally('(near-valid encoding executed)', f.reached && c.insn.enc === 'near');
    tally('(#NP delivered)', exception(f, 11));
    tally(
      '(shutdown)',
      f.trace.some((e) => e.kind === 'shutdown'),
    );
    tally(
      '(irq delivered)',
      f.trace.some((e) => e.kind === 'interrupt'),
    );
    tally('(popf executed)', f.reached && op === 'popf');
    tally('(int executed)', f.reached && op === 'int');
    tally('(stack on DSTACK)', c.state.esp >= DSTACK && c.state.esp <= DSTACK + 0x1000);
  }
  const pct = (k: string): number => (100 * counts.get(k)!) / n;
  console.log(`insn-states: of ${n} cases\n` + [...counts.keys()].map((k) => `  ${pct(k).toFixed(1).padStart(5)} %  ${k}`).join('\n'));
  for (const k of counts.keys()) if (!k.startsWith('(')) expect(pct(k), k).toBeGreaterThanOrEqual(3);
});
