// The collector of `popek explain` (DESIGN §10): runs an engine step by step, as the
// lockstep differ does (DESIGN §2: one step = an instruction retired or a handler entered;
// host events fired at the same boundaries, DESIGN §3.8, §3.10.8–9), and records after
// each step what the engine itself shows: its observation, its counters, the exits its
// vCPU took (VmxVcpu.onExit), and for the instruction's accesses the tables as they are in
// memory — the guest's in guest RAM, the shadow tables and the EPT in host RAM, reached
// through the VMM's own objects (the active shadow root, the EPT root, the p2m, the traced
// set). Which addresses an instruction accesses comes from the reference decoder (spec/isa.ts).

import { decode, INSN_BYTES } from '../../../spec/isa.ts';
import { disassembleInsn } from '../../../spec/asm/disassemble.ts';
import { sortSchedule } from '../../../spec/machine.ts';
import type { Engine, HostEvent, Observation, StepOutcome } from '../../engines/engine.ts';
import { REG_NAMES } from '../../../spec/observation.ts';
import { VmxShadowEngine } from '../../engines/vmx-shadow.ts';
import { VmxEptEngine } from '../../engines/vmx-ept.ts';
import { CR0_PG, CR4_PSE, FRAME_MASK, PAGE_SHIFT, PDE_PS, PFEC_U, PFEC_W, PTE_P, VEC_PF } from '../../hw/arch.ts';
import type { PhysMem } from '../../hw/memory.ts';
import { EPT_RWX } from '../../hw/ept.ts';
import type { Entry, ExitRecord, GuestWalk, ListingLine, RunData, ShadowWalk, StepRecord, Walk, EptRow } from './model.ts';
import { STATE_FIELDS } from './model.ts';

export interface CollectCase {
  engine: Engine;
  ramBytes: number;
  bugs: readonly string[];
  events: readonly HostEvent[];
  maxSteps: number;
}

/** The state fields of an observation, in STATE_FIELDS order. */
export function stateOf(o: Observation): number[] {
  return STATE_FIELDS.map((f) => (f === 'icount' ? o.icount : f in o.regs ? o.regs[f as keyof Observation['regs']] : o[f as 'eip']));
}

/**
 * Guest RAM as the page reads it: an aligned word at a gpa. For the VMX engines through
 * their p2m without side effects (`peek32`: no swap-in), since assembling all of RAM for
 * every step (the observation's `ram`) would cost a millisecond a step; for the others
 * from the observation.
 */
type GuestRam = (gpa: number) => number;

function guestRamOf(engine: Engine, obs: Observation): GuestRam {
  if (engine instanceof VmxShadowEngine || engine instanceof VmxEptEngine) {
    const p2m = engine.vm.p2m;
    return (gpa) => p2m.peek32(gpa) >>> 0;
  }
  const ram = obs.ram;
  return (gpa) => (ram[gpa]! | (ram[gpa + 1]! << 8) | (ram[gpa + 2]! << 16) | (ram[gpa + 3]! << 24)) >>> 0;
}

/** A guest-physical word as a walk reads it: outside RAM, all ones (DESIGN §3.2: walks never reach the device). */
function guestWord(ram: GuestRam, ramBytes: number, gpa: number): number {
  gpa = (gpa & ~3) >>> 0;
  return gpa + 4 > ramBytes ? 0xffffffff : ram(gpa);
}

interface Paging {
  pg: boolean;
  pse: boolean;
  cr3: number;
}

const pagingOf = (s: Observation): Paging => ({ pg: (s.cr0 & CR0_PG) !== 0, pse: (s.cr4 & CR4_PSE) !== 0, cr3: s.cr3 >>> 0 });

/** The guest's entries for `la` as they are in guest RAM (DESIGN §3.5 steps 1–3, addresses only). */
function guestWalk(ram: GuestRam, ramBytes: number, p: Paging, la: number): GuestWalk {
  const pdeAddr = ((p.cr3 & FRAME_MASK) + ((la >>> 22) << 2)) >>> 0;
  const pde = guestWord(ram, ramBytes, pdeAddr);
  const w: GuestWalk = { pde: { addr: pdeAddr, value: pde } };
  if ((pde & PTE_P) === 0) return w;
  if (p.pse && (pde & PDE_PS) !== 0) {
    w.large = true;
    w.gpa = ((pde & 0xffc00000) | (la & 0x3fffff)) >>> 0;
    return w;
  }
  const pteAddr = ((pde & FRAME_MASK) + (((la >>> 12) & 0x3ff) << 2)) >>> 0;
  const pte = guestWord(ram, ramBytes, pteAddr);
  w.pte = { addr: pteAddr, value: pte };
  if ((pte & PTE_P) !== 0) w.gpa = ((pte & FRAME_MASK) | (la & 0xfff)) >>> 0;
  return w;
}

/** The gpa of `la` when every entry on the way is present (for reading the instruction's bytes); −1 otherwise. */
function gpaOf(ram: GuestRam, ramBytes: number, p: Paging, la: number): number {
  if (!p.pg) return la >>> 0;
  return guestWalk(ram, ramBytes, p, la).gpa ?? -1;
}

/** Two-level tables in host memory (the shadow's and the EPT's share the shape: DESIGN §6, hw/ept.ts). */
function hostEntries(
  mem: PhysMem,
  root: number,
  addr: number,
  present: (e: number) => boolean,
): { dir: Entry; table?: Entry; hpa?: number } {
  const dirAddr = ((root & FRAME_MASK) + ((addr >>> 22) << 2)) >>> 0;
  const dir = mem.read32Walk(dirAddr) >>> 0;
  const out: { dir: Entry; table?: Entry; hpa?: number } = { dir: { addr: dirAddr, value: dir } };
  if (!present(dir)) return out;
  const tableAddr = ((dir & FRAME_MASK) + (((addr >>> 12) & 0x3ff) << 2)) >>> 0;
  const table = mem.read32Walk(tableAddr) >>> 0;
  out.table = { addr: tableAddr, value: table };
  if (present(table)) out.hpa = ((table & FRAME_MASK) | (addr & 0xfff)) >>> 0;
  return out;
}

function shadowWalk(e: VmxShadowEngine, la: number, guest: GuestWalk | undefined, p: Paging): ShadowWalk {
  const shadow = e.vm.shadow;
  const root = shadow.rootHpa;
  const h = hostEntries(e.host.memory.mem, root, la, (x) => (x & PTE_P) !== 0);
  const w: ShadowWalk = { root, spde: h.dir, traced: [] };
  if (h.table) w.spte = h.table;
  if (h.hpa !== undefined) w.hpa = h.hpa;
  const gfns = new Set<number>();
  if (p.pg && guest) {
    gfns.add(p.cr3 >>> PAGE_SHIFT);
    if (guest.pte) gfns.add(guest.pte.addr >>> PAGE_SHIFT);
  }
  const gpa = p.pg ? guest?.gpa : la >>> 0;
  if (gpa !== undefined) {
    const gfn = gpa >>> PAGE_SHIFT;
    gfns.add(gfn);
    if (gfn < e.vm.p2m.frames) {
      w.hfn = e.vm.p2m.resident(gfn);
      if (e.vm.p2m.isSwapped(gfn)) w.swapped = true;
    }
  }
  w.traced = [...gfns].filter((g) => shadow.isTraced(g));
  return w;
}

function eptWalk(e: VmxEptEngine, la: number, guest: GuestWalk | undefined, p: Paging): EptRow[] {
  const mem = e.host.memory.mem;
  const root = e.vm.ept.rootHpa;
  const present = (x: number) => (x & EPT_RWX) !== 0;
  const row = (what: EptRow['what'], gpa: number): EptRow => {
    const h = hostEntries(mem, root, gpa, present);
    const r: EptRow = { what, gpa, dir: h.dir };
    if (h.table) r.table = h.table;
    if (h.hpa !== undefined) r.hpa = h.hpa;
    return r;
  };
  if (!p.pg) return [row('data', la >>> 0)];
  const rows: EptRow[] = [];
  if (!guest) return rows;
  rows.push(row('PDE', guest.pde.addr));
  if (guest.pte) rows.push(row('PTE', guest.pte.addr));
  if (guest.gpa !== undefined) rows.push(row('data', guest.gpa));
  return rows;
}

interface Access {
  la: number;
  access: Walk['access'];
}

/**
 * The linear addresses the instruction at eip touches (DESIGN §3.4, §3.5): its fetch, its
 * memory operand, the stack word it pushes or pops. Read from the state before the step.
 */
function accessesOf(bytes: Uint8Array | undefined, s: Observation): Access[] {
  const out: Access[] = [{ la: s.eip >>> 0, access: 'fetch' }];
  const insn = bytes && decode(bytes);
  if (!insn) return out;
  const esp = s.regs.esp >>> 0;
  const k = insn.info.kind.k;
  if (insn.info.uses.mem && k !== 'lea' && k !== 'invlpg') {
    const base = insn.nobase ? 0 : s.regs[REG_NAMES[insn.b]!];
    const write = k === 'store' || k === 'storeb' || k === 'sidt';
    out.push({ la: (base + insn.imm) >>> 0, access: write ? 'write' : 'read' });
  }
  if (k === 'push' || k === 'pushi' || k === 'call' || k === 'callr' || k === 'pushf') out.push({ la: (esp - 4) >>> 0, access: 'write' });
  if (k === 'pop' || k === 'ret' || k === 'popf' || k === 'iret') out.push({ la: esp, access: 'read' });
  return out;
}

/** The 8 bytes at eip through the guest's tables, or undefined when the fetch cannot be read. */
function insnBytes(s: Observation, ram: GuestRam, ramBytes: number): Uint8Array | undefined {
  const p = pagingOf(s);
  const out = new Uint8Array(INSN_BYTES);
  for (let i = 0; i < INSN_BYTES; i++) {
    const gpa = gpaOf(ram, ramBytes, p, (s.eip + i) >>> 0);
    if (gpa < 0 || gpa >= ramBytes) return undefined;
    out[i] = (ram(gpa & ~3) >>> ((gpa & 3) * 8)) & 0xff;
  }
  return out;
}

/** Index of `x` in `table`, appended if no equal value is there yet: the page repeats nothing. */
function interner<T>(table: T[]): (x: T) => number {
  const ids = new Map<string, number>();
  return (x) => {
    const key = JSON.stringify(x);
    let id = ids.get(key);
    if (id === undefined) {
      id = table.length;
      table.push(x);
      ids.set(key, id);
    }
    return id;
  };
}

export interface Collected {
  run: RunData;
  /** Disassembly of every eip the run executed. */
  listing: Map<number, string>;
  truncated: boolean;
}

/** Run `c.engine` for at most `c.maxSteps` steps and record every step. */
export function collect(c: CollectCase): Collected {
  const engine = c.engine;
  const shadow = engine instanceof VmxShadowEngine ? engine : null;
  const ept = engine instanceof VmxEptEngine ? engine : null;
  let exits: ExitRecord[] = [];
  const vcpu = shadow?.vcpu ?? ept?.vcpu;
  // A step is one entry of budget 1, so most entries end on the budget's timer: an artifact
  // of looking one step at a time (the page says so and does not cost them), not recorded.
  if (vcpu)
    vcpu.onExit = (x) =>
      x.reason !== 'preemption-timer' &&
      exits.push({
        reason: x.reason,
        qualification: x.qualification >>> 0,
        guestLinear: x.guestLinear === null ? null : x.guestLinear >>> 0,
        guestPhysical: x.guestPhysical === null ? null : x.guestPhysical >>> 0,
        vector: x.interruption?.vector ?? null,
        errorCode: x.interruption?.errorCode ?? null,
      });

  const walks: Walk[] = [];
  const deltas: Record<string, number>[] = [];
  const intern = interner(walks);
  const internDelta = interner(deltas);

  const listing = new Map<number, string>();
  const steps: StepRecord[] = [];
  const queue = sortSchedule(c.events);
  let next = 0;
  let prev = engine.observe();
  let prevState = stateOf(prev);
  const init = prevState;
  let prevCounters = engine.counters();
  let error: string | undefined;
  let truncated = false;

  for (;;) {
    const fired: HostEvent[] = [];
    while (next < queue.length && queue[next]!.at <= engine.icount()) fired.push(queue[next++]!);
    if (steps.length >= c.maxSteps) {
      truncated = engine.status() === 'running';
      break;
    }
    exits = [];
    // Host events first, so that the tables read "before the step" are those the step meets.
    try {
      for (const e of fired) engine.fire(e);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      break;
    }
    const at = prev.eip >>> 0;
    const preRam = guestRamOf(engine, prev);
    const bytes = insnBytes(prev, preRam, c.ramBytes);
    if (!listing.has(at)) listing.set(at, bytes ? disassembleInsn(bytes) : '(fetch faults)');
    const accesses = accessesOf(bytes, prev);
    const paging = pagingOf(prev);
    const user = prev.cpl === 3;
    // The VMM's side before the step, kept where the step changes it (model.ts `before`).
    const vmmSide = (la: number, ram: GuestRam): Walk['before'] => {
      const guest = paging.pg ? guestWalk(ram, c.ramBytes, paging, la) : undefined;
      return shadow ? { shadow: shadowWalk(shadow, la, guest, paging) } : ept ? { ept: eptWalk(ept, la, guest, paging) } : undefined;
    };
    const before = accesses.map((a) => vmmSide(a.la, preRam));
    const traceBefore = prev.trace.length;
    const consoleBefore = prev.console.length;
    let outcome: StepOutcome;
    try {
      outcome = engine.step();
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      break;
    }
    if (outcome === 'halted') {
      if (next >= queue.length) break;
      // Time jumps to the next event (DESIGN §3.10.9), as the lockstep differ does.
      const t = queue[next]!.at;
      while (next < queue.length && queue[next]!.at === t) engine.fire(queue[next++]!);
      prev = engine.observe();
      prevState = stateOf(prev);
      continue;
    }
    const obs = engine.observe();
    const state = stateOf(obs);
    const rec: StepRecord = { o: outcome === 'retired' ? 'r' : outcome === 'delivered' ? 'd' : 's', d: [], at };
    state.forEach((v, i) => {
      if (v !== prevState[i]) rec.d.push([i, v]);
    });
    const counters = engine.counters();
    const delta: Record<string, number> = {};
    for (const [k, v] of Object.entries(counters)) if (v !== (prevCounters[k] ?? 0)) delta[k] = v - (prevCounters[k] ?? 0);
    if (Object.keys(delta).length) rec.c = internDelta(delta);
    if (exits.length) rec.x = exits;
    const trace = obs.trace.slice(traceBefore);
    if (trace.length) rec.t = trace;
    if (fired.length) rec.f = fired;
    if (obs.console.length > consoleBefore) rec.con = obs.console.slice(consoleBefore);

    // The faulting address of a delivered #PF is the engine's own (its trace's CR2).
    const pf = trace.find((t) => t.kind === 'exception' && t.vector === VEC_PF && t.cr2 !== undefined);
    const ws: Walk[] = accesses.map((a) => ({ la: a.la, access: a.access, user }));
    if (pf && pf.kind !== 'shutdown' && pf.cr2 !== undefined) {
      const ec = pf.errorCode ?? 0;
      let w = ws.find((x) => x.la >>> PAGE_SHIFT === pf.cr2! >>> PAGE_SHIFT && (x.access === 'write') === ((ec & PFEC_W) !== 0));
      if (!w) {
        w = { la: pf.cr2, access: ec & PFEC_W ? 'write' : 'read', user: (ec & PFEC_U) !== 0 };
        ws.push(w);
      }
      w.errorCode = ec;
    }
    const ram = guestRamOf(engine, obs);
    for (const w of ws) {
      const guest = paging.pg ? guestWalk(ram, c.ramBytes, paging, w.la) : undefined;
      if (guest) w.guest = guest;
      if (shadow) w.shadow = shadowWalk(shadow, w.la, guest, paging);
      if (ept) w.ept = eptWalk(ept, w.la, guest, paging);
    }
    ws.forEach((w, i) => {
      const b = before[i];
      if (b && JSON.stringify(b) !== JSON.stringify({ shadow: w.shadow, ept: w.ept })) w.before = b;
    });
    rec.w = ws.map(intern);
    steps.push(rec);
    prev = obs;
    prevState = state;
    prevCounters = counters;
    if (outcome === 'shutdown') break;
  }
  if (vcpu) vcpu.onExit = null;
  const run: RunData = { engine: engine.name, bugs: [...c.bugs], init, steps, walks, deltas, status: error ? 'threw' : engine.status() };
  if (error !== undefined) run.error = error;
  return { run, listing, truncated };
}

/** The listing of the executed instructions, with the labels the source defines at their addresses. */
export function listingOf(listings: Map<number, string>[], source: string, symbols: ReadonlyMap<string, number>): ListingLine[] {
  const labels = new Map<number, string>();
  for (const m of source.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_.]*):/gm)) {
    const v = symbols.get(m[1]!);
    if (v !== undefined && !labels.has(v >>> 0)) labels.set(v >>> 0, m[1]!);
  }
  const all = new Map<number, string>();
  for (const l of listings) for (const [a, t] of l) if (!all.has(a)) all.set(a, t);
  return [...all.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([addr, text]) => {
      const line: ListingLine = { addr, text };
      const label = labels.get(addr);
      if (label !== undefined) line.label = label;
      return line;
    });
}
