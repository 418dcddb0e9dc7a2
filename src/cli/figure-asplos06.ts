// `popek bench --figure asplos06 [--cpu P] [--json] [--svg OUT.svg]` (issue 19 item 5):
// Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86
// Virtualization" (ASPLOS 2006), Figure 4, in modelled cycles (DESIGN §9). Each row is a
// workload of examples/bench/ run on native, bt (the software VMM), vmx-shadow (the first
// hardware VMMs: VT-x with shadow paging) and vmx-ept (what came next: nested paging),
// beside the paper's published numbers, with whether the order of native / software /
// hardware is the paper's.
//
// Cycles per operation: each workload runs ITERATIONS = K and 2K times and the counters'
// difference is divided by K, so setup and one-time translation cancel out. Costs are
// those of cost-model.ts, the same for every row and every engine: the only per-engine
// fact is that `native` alone reaches a real device with `in`/`out` (the VMMs emulate
// one), and the number of port accesses is the guest's, counted on the reference model.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assemble } from '../../spec/asm/assemble.ts';
import { SpecMachine } from '../../spec/machine.ts';
import type { Image } from '../../spec/observation.ts';
import { makeEngine } from './engines.ts';
import { CPU_PROFILES, COSTS, modelledCycles, type CpuProfile } from './cost-model.ts';
import { includeFromDisk } from './source.ts';
import { UsageError } from './usage.ts';

export const FIGURE_HELP = `usage: popek bench --figure asplos06 [--cpu PROFILE] [--json] [--svg OUT.svg]

Adams & Agesen (ASPLOS 2006) Figure 4 in modelled cycles per operation: each workload
of examples/bench on native, bt (software VMM), vmx-shadow (hardware VMM, shadow paging)
and vmx-ept (nested paging), the paper's numbers beside them, and whether the order of
native / software / hardware matches the paper's (values within 20 % count as equal).
  --cpu PROFILE  exit round trip of ${CPU_PROFILES.map((c) => c.name).join(', ')} (default: prescott, the paper's Pentium 4)
  --json         one JSON object
  --svg OUT.svg  also write a grouped bar chart (log scale)`;

export const FIGURE_ENGINES = ['native', 'bt', 'vmx-shadow', 'vmx-ept'] as const;
export type FigureEngine = (typeof FIGURE_ENGINES)[number];

/** The engines whose `in`/`out` reach a real device (the VMMs emulate theirs). */
const REAL_DEVICES: ReadonlySet<string> = new Set(['native']);

/** Two values within this ratio are not ordered (the costs are assumptions good to a few tens of percent). */
export const TIE = 1.2;

export interface PaperNumbers {
  native?: number;
  software?: number;
  hardware?: number;
}

export interface FigureRowDef {
  /** The paper's name for the row. */
  row: string;
  /** The workload in examples/bench. */
  workload: string;
  iterations: number;
  paper: PaperNumbers;
  unit: 'cycles' | 's';
  /** Where the paper's numbers come from when not from its text (DESIGN §9). */
  note?: string;
}

export const FIGURE_ROWS: readonly FigureRowDef[] = [
  {
    row: 'syscall',
    workload: 'syscall',
    iterations: 100,
    paper: { native: 243, software: 2314, hardware: 247 },
    unit: 'cycles',
    note: 'read from the figure',
  },
  {
    row: 'in',
    workload: 'in',
    iterations: 100,
    paper: { native: 3209, hardware: 15826 },
    unit: 'cycles',
    note: 'software 217 read from the figure, not used',
  },
  { row: 'cr8wr', workload: 'irqmask', iterations: 100, paper: {}, unit: 'cycles', note: 'VX32 analogue cli; sti: no paper numbers' },
  { row: 'call/ret', workload: 'callret', iterations: 100, paper: { native: 11, software: 51, hardware: 11 }, unit: 'cycles' },
  { row: 'pgfault', workload: 'pgfault', iterations: 100, paper: { native: 1093, software: 3927, hardware: 11242 }, unit: 'cycles' },
  {
    row: 'divzero',
    workload: 'fault',
    iterations: 100,
    paper: { native: 889, software: 3223, hardware: 1014 },
    unit: 'cycles',
    note: 'VX32 analogue: ud2',
  },
  { row: 'ptemod', workload: 'pte-store', iterations: 100, paper: { native: 1, software: 391, hardware: 12733 }, unit: 'cycles' },
  {
    row: 'forkwait',
    workload: 'forkwait',
    iterations: 10,
    paper: { native: 6.0, software: 36.9, hardware: 106.4 },
    unit: 's',
    note: 'seconds for 40,000 forks; two secondary sources',
  },
];

export interface FigureRow {
  row: string;
  workload: string;
  /** Modelled cycles per operation, per engine. */
  cycles: Record<FigureEngine, number>;
  /** Counters per operation, per engine (what the cycles are computed from). */
  counters: Record<FigureEngine, Record<string, number>>;
  paper: PaperNumbers;
  unit: 'cycles' | 's';
  note?: string;
  /** The order of native / software / hardware, e.g. "native = hardware < software". */
  modelledOrder: string;
  paperOrder: string | null;
  /** null when the paper gives fewer than two numbers. */
  match: boolean | null;
}

export interface Figure {
  cpu: CpuProfile;
  tie: number;
  costs: typeof COSTS;
  rows: FigureRow[];
}

const WORKLOADS_DIR = fileURLToPath(new URL('../../examples/bench/', import.meta.url));
const ITERATIONS_LINE = /^\.equ ITERATIONS, \d+$/m;

/** The workload's source with its iteration count set. */
function sourceOf(workload: string, iterations: number): string {
  const src = readFileSync(`${WORKLOADS_DIR}${workload}.s`, 'utf8');
  if (!ITERATIONS_LINE.test(src)) throw new Error(`popek: examples/bench/${workload}.s has no '.equ ITERATIONS, N' line`);
  return src.replace(ITERATIONS_LINE, `.equ ITERATIONS, ${iterations}`);
}

/** A workload's source, its `.include`s read beside it in examples/bench (the shared boot and IDT). */
const assembleWorkload = (source: string): Image => assemble(source, `${WORKLOADS_DIR}workload.s`, { include: includeFromDisk }).image;

const MAX_STEPS = 50_000_000;
const OP_IN = 0x66;
const OP_OUT = 0x67;

/** Port accesses the guest makes (retired `in` and `out`), on the reference model. */
function portAccesses(source: string): number {
  const m = new SpecMachine(assembleWorkload(source), { ramBytes: 1 << 20 });
  let n = 0;
  for (let i = 0; i < MAX_STEPS && m.status() === 'running'; i++) {
    const op = m.peekInsn()?.[0];
    const before = m.icount();
    m.step();
    if ((op === OP_IN || op === OP_OUT) && m.icount() > before) n++;
  }
  return n;
}

/** One run to the guest's hlt: the engine's counters plus deliveries and real-device port accesses. */
function measure(engine: FigureEngine, source: string, ports: number): Record<string, number> {
  const e = makeEngine(engine, assembleWorkload(source), { ramBytes: 1 << 20 });
  const obs = e.run([], MAX_STEPS);
  if (obs.status !== 'halted') throw new Error(`popek: the figure's workload did not halt on ${engine} (${obs.status})`);
  return {
    ...e.counters(),
    instructions: obs.icount,
    deliveries: obs.trace.length,
    devicePortAccesses: REAL_DEVICES.has(engine) ? ports : 0,
  };
}

/** (c(2K) − c(K)) / K for every counter. */
function perOp(once: Record<string, number>, twice: Record<string, number>, k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of new Set([...Object.keys(once), ...Object.keys(twice)])) {
    const d = ((twice[key] ?? 0) - (once[key] ?? 0)) / k;
    if (d !== 0) out[key] = d;
  }
  return out;
}

/** The order of the named values, ascending; values within TIE of the smallest of their group are equal. */
export function order(values: Readonly<Record<string, number>>): string {
  const sorted = Object.entries(values).sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const groups: string[][] = [];
  let base = -Infinity;
  for (const [name, v] of sorted) {
    if (groups.length > 0 && v <= base * TIE) groups[groups.length - 1]!.push(name);
    else {
      groups.push([name]);
      base = v;
    }
  }
  return groups.map((g) => g.sort().join(' = ')).join(' < ');
}

export function buildFigure(cpu: CpuProfile, onRow?: (row: string) => void, defs: readonly FigureRowDef[] = FIGURE_ROWS): Figure {
  const rows = defs.map((def): FigureRow => {
    onRow?.(def.row);
    const k = def.iterations;
    const src1 = sourceOf(def.workload, k);
    const src2 = sourceOf(def.workload, 2 * k);
    const ports1 = portAccesses(src1);
    const ports2 = portAccesses(src2);
    const counters = {} as Record<FigureEngine, Record<string, number>>;
    const cycles = {} as Record<FigureEngine, number>;
    for (const engine of FIGURE_ENGINES) {
      counters[engine] = perOp(measure(engine, src1, ports1), measure(engine, src2, ports2), k);
      cycles[engine] = modelledCycles(counters[engine], cpu);
    }
    const modelled = { native: cycles.native, software: cycles.bt, hardware: cycles['vmx-shadow'] };
    const paperKeys = (['native', 'software', 'hardware'] as const).filter((key) => def.paper[key] !== undefined);
    const pick = (src: PaperNumbers | typeof modelled) => Object.fromEntries(paperKeys.map((key) => [key, src[key]!]));
    const paperOrder = paperKeys.length >= 2 ? order(pick(def.paper)) : null;
    return {
      row: def.row,
      workload: def.workload,
      cycles,
      counters,
      paper: def.paper,
      unit: def.unit,
      ...(def.note ? { note: def.note } : {}),
      modelledOrder: order(modelled),
      paperOrder,
      match: paperOrder === null ? null : order(pick(modelled)) === paperOrder,
    };
  });
  return { cpu, tie: TIE, costs: COSTS, rows };
}

const fmt = (v: number | undefined): string => (v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

export function formatFigure(f: Figure): string {
  const head = `Adams & Agesen, ASPLOS 2006, Figure 4 — modelled cycles per operation, cpu ${f.cpu.name} (exit round trip ${f.cpu.exitRoundTrip})`;
  const cols = `${'row'.padEnd(9)} ${'workload'.padEnd(10)} ${FIGURE_ENGINES.map((e) => e.padStart(10)).join(' ')}   ${'paper native/software/hardware'.padEnd(30)} order (modelled; paper)`;
  const lines = f.rows.map((r) => {
    const paper = `${fmt(r.paper.native)} / ${fmt(r.paper.software)} / ${fmt(r.paper.hardware)}${r.unit === 's' ? ' s' : ''}`;
    const verdict = r.match === null ? 'no paper order' : r.match ? 'match' : 'MISMATCH';
    return `${r.row.padEnd(9)} ${r.workload.padEnd(10)} ${FIGURE_ENGINES.map((e) => fmt(r.cycles[e]).padStart(10)).join(' ')}   ${paper.padEnd(30)} ${verdict}: ${r.modelledOrder}${r.paperOrder ? `; paper ${r.paperOrder}` : ''}`;
  });
  const checked = f.rows.filter((r) => r.match !== null);
  const matched = checked.filter((r) => r.match).length;
  return [
    head,
    '',
    cols,
    ...lines,
    '',
    `software = bt, hardware = vmx-shadow; values within ${Math.round((TIE - 1) * 100)} % are equal in an order. ${matched} of ${checked.length} rows with paper numbers in the paper's order.`,
    `costs (src/cli/cost-model.ts, the same for every row): ${Object.entries(f.costs)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
  ].join('\n');
}

const COLORS: Record<FigureEngine, string> = { native: '#4d4d4d', bt: '#1b9e77', 'vmx-shadow': '#d95f02', 'vmx-ept': '#7570b3' };
const PAPER_OF: Partial<Record<FigureEngine, keyof PaperNumbers>> = { native: 'native', bt: 'software', 'vmx-shadow': 'hardware' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A grouped bar chart, log scale: four modelled bars per row, the paper's cycles as black ticks over them. */
export function figureSvg(f: Figure): string {
  const groupW = 130;
  const barW = 24;
  const left = 70;
  const top = 50;
  const plotH = 320;
  const width = left + groupW * f.rows.length + 20;
  const height = top + plotH + 90;
  const maxV = Math.max(
    10,
    ...f.rows.flatMap((r) => FIGURE_ENGINES.map((e) => r.cycles[e])),
    ...f.rows.flatMap((r) =>
      (r.unit === 'cycles' ? [r.paper.native, r.paper.software, r.paper.hardware] : []).filter((v): v is number => v !== undefined),
    ),
  );
  const decades = Math.ceil(Math.log10(maxV));
  const y = (v: number): number => top + plotH - (Math.log10(Math.max(v, 1)) / decades) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(
    `<text x="${left}" y="20" font-size="14">${esc(`ASPLOS-06 Figure 4 in modelled cycles per operation (log scale), cpu ${f.cpu.name}`)}</text>`,
  );
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d);
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${10 ** d >= 1000 ? `${10 ** (d - 3)}k` : 10 ** d}</text>`);
  }
  f.rows.forEach((r, i) => {
    const x0 = left + i * groupW + 10;
    FIGURE_ENGINES.forEach((e, j) => {
      const v = r.cycles[e];
      const x = x0 + j * (barW + 2);
      out.push(
        `<rect x="${x}" y="${y(v)}" width="${barW}" height="${top + plotH - y(v)}" fill="${COLORS[e]}"><title>${esc(`${r.row} ${e}: ${fmt(v)} cycles`)}</title></rect>`,
      );
      const key = PAPER_OF[e];
      const p = key && r.unit === 'cycles' ? r.paper[key] : undefined;
      if (p !== undefined)
        out.push(
          `<line x1="${x - 2}" x2="${x + barW + 2}" y1="${y(p)}" y2="${y(p)}" stroke="black" stroke-width="3"><title>${esc(`paper: ${p}`)}</title></line>`,
        );
    });
    const mark = r.match === null ? '' : r.match ? ' ✓' : ' ✗';
    out.push(`<text x="${x0 + 2 * (barW + 2)}" y="${top + plotH + 18}" text-anchor="middle">${esc(r.row + mark)}</text>`);
  });
  const ly = top + plotH + 45;
  FIGURE_ENGINES.forEach((e, j) => {
    const lx = left + j * 150;
    out.push(
      `<rect x="${lx}" y="${ly}" width="14" height="14" fill="${COLORS[e]}"/><text x="${lx + 20}" y="${ly + 12}">${e}${e === 'bt' ? ' (software)' : e === 'vmx-shadow' ? ' (hardware)' : ''}</text>`,
    );
  });
  out.push(
    `<line x1="${left}" x2="${left + 20}" y1="${ly + 32}" y2="${ly + 32}" stroke="black" stroke-width="3"/><text x="${left + 26}" y="${ly + 36}">the paper's cycles (Pentium 4); ✓ the order native / software / hardware is the paper's (forkwait: paper in seconds, not drawn)</text>`,
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function figureCommand(args: string[], out: (s: string) => void): number {
  const { values } = parseArgs({
    args,
    options: {
      figure: { type: 'string' },
      cpu: { type: 'string', default: 'prescott' },
      json: { type: 'boolean', default: false },
      svg: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    out(FIGURE_HELP + '\n');
    return 0;
  }
  if (values.figure !== 'asplos06') throw new UsageError(`--figure: unknown figure '${values.figure}' (one of asplos06)`);
  const cpu = CPU_PROFILES.find((c) => c.name === values.cpu);
  if (!cpu) throw new UsageError(`--cpu: unknown profile '${values.cpu}' (one of ${CPU_PROFILES.map((c) => c.name).join(', ')})`);
  const f = buildFigure(cpu, (row) => process.stderr.write(`figure asplos06: ${row}...\n`));
  if (values.svg !== undefined) {
    try {
      writeFileSync(values.svg, figureSvg(f));
    } catch (err) {
      throw new UsageError(`--svg: cannot write '${values.svg}': ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  out(values.json ? JSON.stringify(f, null, 2) + '\n' : formatFigure(f));
  return 0;
}
