/// <reference lib="dom" />
// The script of a `popek explain` page (DESIGN §10), bundled inline by page.ts with esbuild:
// plain DOM, no framework. It draws one frame — the state after step k — from the data the
// collector recorded (model.ts): the listing with the instruction just run and the next
// one marked, registers with EFLAGS and CR0/CR4 decoded, the step's events and exits with
// their modelled cycles (src/cli/cost-model.ts, the same function `popek bench` uses), and
// the walk of each access: the guest's tables beside the shadow tables or the 2-D EPT
// walk. ←/→, Home/End, the step in the URL hash (#step=k).

import { CPU_PROFILES, modelledCycles, type CpuProfile } from '../cost-model.ts';
import * as arch from '../../hw/arch.ts';
import {
  STATE_FIELDS,
  type EptRow,
  type Entry,
  type PageData,
  type RunData,
  type ShadowWalk,
  type StepRecord,
  type Walk,
} from './model.ts';

const data = JSON.parse(document.getElementById('popek-data')!.textContent) as PageData;
const runs = data.runs;
const steps = Math.max(...runs.map((r) => r.steps.length));
const F = Object.fromEntries(STATE_FIELDS.map((f, i) => [f, i])) as Record<(typeof STATE_FIELDS)[number], number>;

/** Full state of every frame, rebuilt once from the deltas: frames[run][k] (k = 0: before any step). */
const frames: number[][][] = runs.map((r) => {
  const out = [r.init];
  let cur = r.init;
  for (const s of r.steps) {
    cur = cur.slice();
    for (const [i, v] of s.d) cur[i] = v;
    out.push(cur);
  }
  return out;
});

let profile: CpuProfile = CPU_PROFILES[0]!;
let cycles: number[][] = [];
/**
 * The collector steps the engine one step per entry, so a VMX engine's every entry ends on
 * its step budget (the VMX-preemption timer exit, src/hw/exits.ts): an artifact of looking
 * one step at a time that a run does not pay. Those exits are shown and not costed.
 */
const TIMER = 'exit.preemption-timer';
function costed(c: Record<string, number>): Record<string, number> {
  const timer = c[TIMER] ?? 0;
  return timer === 0 ? c : { ...c, exits: (c.exits ?? 0) - timer };
}
function runTotal(): number {
  let total = 0;
  for (const c of cycles[runs.length - 1]!) total += c;
  return total;
}
function computeCycles(): void {
  cycles = runs.map((r) => {
    const per = r.deltas.map((c) => modelledCycles(costed(c), profile));
    return r.steps.map((s) => (s.c === undefined ? 0 : per[s.c]!));
  });
}
computeCycles();

const hex = (v: number, w = 8): string => '0x' + (v >>> 0).toString(16).padStart(w, '0');
/** A diverging field's value as the rest of the page writes numbers: in hex. */
const valueText = (v: unknown): string =>
  typeof v === 'number' ? hex(v) : (JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' ? hex(x, 1) : x)) ?? 'undefined');
const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const $ = (id: string): HTMLElement => document.getElementById(id)!;

function bits(v: number, names: [number, string][]): string {
  return names.map(([b, n]) => `<span class="bit ${v & b ? 'on' : 'off'}">${n}</span>`).join('');
}

const PTE_BITS: [number, string][] = [
  [arch.PTE_P, 'P'],
  [arch.PTE_RW, 'RW'],
  [arch.PTE_US, 'US'],
  [arch.PTE_A, 'A'],
  [arch.PTE_D, 'D'],
  [arch.PDE_PS, 'PS'],
];
const EPT_BITS: [number, string][] = [
  [1, 'R'],
  [2, 'W'],
  [4, 'X'],
];
const PFEC_BITS: [number, string][] = [
  [arch.PFEC_P, 'P'],
  [arch.PFEC_W, 'W'],
  [arch.PFEC_U, 'U'],
  [arch.PFEC_RSVD, 'RSVD'],
];

function eflagsText(v: number): string {
  const iopl = (v & arch.EFLAGS_IOPL) >>> arch.EFLAGS_IOPL_SHIFT;
  return (
    bits(v, [
      [arch.EFLAGS_CF, 'CF'],
      [arch.EFLAGS_ZF, 'ZF'],
      [arch.EFLAGS_SF, 'SF'],
      [arch.EFLAGS_OF, 'OF'],
      [arch.EFLAGS_IF, 'IF'],
    ]) + ` <span class="bit on">IOPL=${iopl}</span>`
  );
}

// ---------------------------------------------------------------------------------------
// Layout, built once.

$('app').innerHTML = `
<header>
  <h1>${esc(data.title)}</h1>
  <div class="controls">
    <button id="first" title="Home">first</button><button id="prev" title="←">◀</button>
    <span id="pos"></span>
    <button id="next" title="→">▶</button><button id="last" title="End">last</button>
    <button id="next-event" title="e: next delivered event">next event</button>
    <button id="next-exit" title="x: next exit">next exit</button>
    <label>CPU <select id="cpu">${CPU_PROFILES.map((p) => `<option>${p.name}</option>`).join('')}</select></label>
    <span id="total"></span>
  </div>
  <canvas id="timeline" height="48"></canvas>
  ${data.divergence ? `<div id="divergence" class="diverge-banner"></div>` : ''}
</header>
<main class="${runs.length > 1 ? 'two' : ''}">
  <section id="listing-pane"><h2>listing</h2><ol id="listing"></ol></section>
  <section id="state-pane"><h2>state</h2><div id="state"></div></section>
  <section id="step-pane"><h2>this step</h2><div id="step"></div><h2>memory accesses</h2><div id="walks"></div></section>
</main>`;

const listingEl = $('listing');
listingEl.innerHTML = data.listing
  .map(
    (l) =>
      `${l.label ? `<li class="label">${esc(l.label)}:</li>` : ''}<li id="L${l.addr}" data-addr="${l.addr}"><span class="addr">${hex(l.addr)}</span> ${esc(l.text)}</li>`,
  )
  .join('');
const cpuSel = $('cpu') as HTMLSelectElement;
cpuSel.addEventListener('change', () => {
  profile = CPU_PROFILES.find((p) => p.name === cpuSel.value) ?? profile;
  computeCycles();
  bars = null;
  show(current);
});

// ---------------------------------------------------------------------------------------
// Timeline: one column per step, its height the step's modelled cycles (log scale),
// coloured by what happened: an exit, a delivered event, the divergence.

const canvas = $('timeline') as HTMLCanvasElement;
/** The bars, drawn once per CPU profile and width; a step only moves the marker over them. */
let bars: HTMLCanvasElement | null = null;
function drawBars(w: number, h: number): HTMLCanvasElement {
  const out = document.createElement('canvas');
  out.width = w;
  out.height = h;
  const ctx = out.getContext('2d')!;
  const r = runs[runs.length - 1]!;
  const cy = cycles[runs.length - 1]!;
  let top = 10;
  for (const c of cy) if (c > top) top = c;
  const max = Math.log10(top + 1);
  const per = w / Math.max(1, steps);
  for (let i = 0; i < r.steps.length; i++) {
    const s = r.steps[i]!;
    ctx.fillStyle = s.o === 'd' ? '#d97706' : s.x ? '#dc2626' : '#94a3b8';
    const bh = Math.max(2, (Math.log10(cy[i]! + 1) / max) * (h - 4));
    ctx.fillRect(Math.floor(i * per), h - bh, Math.max(1, Math.ceil(per)), bh);
  }
  if (data.divergence) {
    ctx.fillStyle = '#c026d3';
    ctx.fillRect(Math.floor((data.divergence.frame - 1) * per), 0, Math.max(2, per), h);
  }
  return out;
}
/** The timeline's width, read at load and on resize only (reading it after a DOM change forces a layout). */
let timelineWidth = canvas.clientWidth || 800;
window.addEventListener('resize', () => {
  timelineWidth = canvas.clientWidth || 800;
  repaint();
});
function drawTimeline(): void {
  const w = timelineWidth;
  const h = canvas.height;
  if (bars === null || bars.width !== w) {
    canvas.width = w;
    bars = drawBars(w, h);
  }
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, w, h);
  ctx.drawImage(bars, 0, 0);
  const per = w / Math.max(1, steps);
  ctx.fillStyle = '#2563eb';
  ctx.fillRect(Math.floor(Math.max(0, current - 1) * per), 0, Math.max(2, per), 3);
}
canvas.addEventListener('click', (e) => {
  const rect = canvas.getBoundingClientRect();
  go(Math.floor(((e.clientX - rect.left) / rect.width) * steps) + 1);
});

// ---------------------------------------------------------------------------------------
// One frame.

let current = 0;
let marked: HTMLElement[] = [];

function stateTable(): string {
  const names = STATE_FIELDS;
  const cols = runs.map((_, i) => frames[i]![Math.min(current, frames[i]!.length - 1)]!);
  const diverged = new Set<string>();
  if (data.divergence && current === data.divergence.frame)
    for (const f of data.divergence.fields) diverged.add(f.path.replace(/^regs\./, ''));
  const rows = names.map((n) => {
    const vals = cols.map((c) => c[F[n]]!);
    const differ = vals.some((v) => v !== vals[0]);
    const cls = `${differ ? 'differs' : ''} ${diverged.has(n) ? 'diverged' : ''}`;
    const cell = (v: number) => {
      const main = n === 'cpl' || n === 'icount' ? String(v) : hex(v);
      const extra =
        n === 'eflags'
          ? eflagsText(v)
          : n === 'cr0'
            ? bits(v, [
                [arch.CR0_PE, 'PE'],
                [arch.CR0_WP, 'WP'],
                [arch.CR0_PG, 'PG'],
              ])
            : n === 'cr4'
              ? bits(v, [[arch.CR4_PSE, 'PSE']])
              : '';
      return `<td class="v">${main}</td><td class="dec">${extra}</td>`;
    };
    return `<tr data-field="${n}" class="${cls}"><th>${n}</th>${vals.map(cell).join('')}</tr>`;
  });
  const head = `<tr><th></th>${runs.map((r) => `<th colspan="2">${esc(r.engine)}${r.bugs.length ? ` <small>--bug ${esc(r.bugs.join(','))}</small>` : ''}</th>`).join('')}</tr>`;
  let extra = '';
  if (data.divergence && current === data.divergence.frame) {
    const other = data.divergence.fields.filter((f) => !names.includes(f.path.replace(/^regs\./, '') as (typeof names)[number]));
    if (other.length)
      extra = `<table class="other-fields">${other
        .map(
          (f) =>
            `<tr class="diverged" data-field="${esc(f.path)}"><th>${esc(f.path)}</th><td>${esc(valueText(f.spec))}</td><td>${esc(valueText(f.engine))}</td></tr>`,
        )
        .join('')}</table>`;
  }
  return `<table class="regs">${head}${rows.join('')}</table>${extra}`;
}

function traceText(t: unknown): string {
  const e = t as { kind: string; vector?: number; errorCode?: number; cr2?: number; eip?: number };
  if (e.kind === 'shutdown') return '<b>shutdown</b> (triple fault)';
  const name =
    e.vector === arch.VEC_PF
      ? '#PF'
      : e.vector === arch.VEC_GP
        ? '#GP'
        : e.vector === arch.VEC_UD
          ? '#UD'
          : e.vector === arch.VEC_DF
            ? '#DF'
            : e.vector === arch.VEC_NP
              ? '#NP'
              : `vector ${e.vector}`;
  let s = `delivered ${e.kind} <b>${name}</b>`;
  if (e.errorCode !== undefined)
    s += ` error code <span class="errcode">${hex(e.errorCode, 1)}</span>${e.vector === arch.VEC_PF ? ' ' + bits(e.errorCode, PFEC_BITS) : ''}`;
  if (e.cr2 !== undefined) s += ` cr2 ${hex(e.cr2)}`;
  return s + ` (saved eip ${hex(e.eip ?? 0)})`;
}

function stepInfo(r: RunData, ri: number): string {
  if (current === 0) return '<p>initial state (reset, DESIGN §3.1)</p>';
  const s: StepRecord | undefined = r.steps[current - 1];
  if (!s) return `<p>${r.error ? `engine threw: ${esc(r.error)}` : `${esc(r.engine)}: ${r.status}`}</p>`;
  const parts: string[] = [];
  const line = data.listing.find((l) => l.addr === s.at);
  parts.push(
    `<p>ran <code>${hex(s.at)} ${esc(line?.text ?? '')}</code>: ${s.o === 'r' ? 'retired' : s.o === 'd' ? 'an event was delivered' : 'shutdown'}</p>`,
  );
  if (s.f) parts.push(`<p>host events before it: ${esc(JSON.stringify(s.f))}</p>`);
  for (const t of s.t ?? []) parts.push(`<p class="event">${traceText(t)}</p>`);
  if (s.x)
    parts.push(
      `<table class="exits"><tr><th>exit</th><th>qualification</th><th>guest linear</th><th>guest physical</th><th>vector</th></tr>${s.x
        .map(
          (x) =>
            `<tr><td>${esc(x.reason)}</td><td>${hex(x.qualification, 1)}</td><td>${x.guestLinear === null ? '' : hex(x.guestLinear)}</td><td>${x.guestPhysical === null ? '' : hex(x.guestPhysical)}</td><td>${x.vector ?? ''}${x.errorCode !== null ? ` ec ${hex(x.errorCode, 1)}` : ''}</td></tr>`,
        )
        .join('')}</table>`,
    );
  const c = s.c === undefined ? undefined : r.deltas[s.c];
  // The VMM's own counters say what its #PF exits were (DESIGN §6.3, §6.4; src/vmm/README.md glossary).
  if (c?.hiddenFaults) parts.push('<p class="note-vmm">a hidden fault: caused by the VMM, resolved by it, never seen by the guest</p>');
  if (c?.trueFaults) parts.push('<p class="note-vmm">a true fault: the guest\'s own tables fault, and the VMM reflects the #PF</p>');
  if (c?.['shadow.tracedWrites'])
    parts.push('<p class="note-vmm">a write to a traced guest table: the VMM emulated it and kept the shadow coherent (DESIGN §6.5)</p>');
  const cy = cycles[ri]![current - 1]!;
  let total = 0;
  for (let i = 0; i < current && i < r.steps.length; i++) total += cycles[ri]![i]!;
  parts.push(
    `<p>modelled cycles on ${profile.name}: <b class="cycles">${cy}</b> this step, ${total} so far (exit round trip ${profile.exitRoundTrip})</p>`,
  );
  if (c?.[TIMER])
    parts.push('<p class="note">exit.preemption-timer: the one-step budget of this view, which a run does not pay: not costed</p>');
  if (c)
    parts.push(
      `<p class="counters">${Object.entries(c)
        .map(([k, v]) => `<span>${esc(k)} ${v > 0 ? '+' : ''}${v}</span>`)
        .join(' ')}</p>`,
    );
  if (s.con) parts.push(`<p>console: <code>${esc(JSON.stringify(s.con))}</code></p>`);
  return parts.join('');
}

function entryRow(name: string, e: Entry | undefined, bitNames: [number, string][], cls = ''): string {
  if (!e) return '';
  return `<tr class="${cls}" data-entry="${name}"><th>${name}</th><td>@${hex(e.addr)}</td><td class="v">${hex(e.value)}</td><td>${bits(e.value, bitNames)}</td></tr>`;
}

function shadowHtml(w: Walk, s: ShadowWalk, when: string, cls = ''): string {
  const traced = new Set(s.traced);
  const finalGfn = w.guest?.gpa !== undefined ? w.guest.gpa >>> 12 : w.guest ? -1 : w.la >>> 12;
  const np = (e?: Entry) => (e !== undefined && (e.value & arch.PTE_P) === 0 ? 'np' : '');
  return `<div class="side shadow ${cls}"><h4>shadow walk${when} (host CR3 = root ${hex(s.root)})</h4><table class="entries">${entryRow('sPDE', s.spde, PTE_BITS, np(s.spde))}${entryRow('sPTE', s.spte, PTE_BITS, `${np(s.spte)} ${traced.has(finalGfn) ? 'traced' : ''}`)}</table>
    ${s.hpa !== undefined ? `<p>→ hpa ${hex(s.hpa)}</p>` : `<p>shadow entry not present: the access takes a hidden fault (DESIGN §6.3)</p>`}
    ${s.hfn !== undefined ? `<p>p2m: gfn ${hex(finalGfn, 1)} → ${s.hfn < 0 ? 'not resident' : `hfn ${hex(s.hfn, 1)}`}</p>` : ''}
    ${s.swapped ? `<p class="swapped">gfn ${hex(finalGfn, 1)} is swapped out: its spte is not present because it is swapped (DESIGN §6.8)</p>` : ''}
    ${s.traced.length ? `<p class="traced-note">traced gfns (guest tables, never writable in the shadow, DESIGN §6.5): ${s.traced.map((g) => hex(g, 1)).join(', ')}${traced.has(finalGfn) ? ` — this access's page is one: its sPTE is read-only whatever the guest's PTE says` : ''}</p>` : ''}</div>`;
}

function eptHtml(rows: EptRow[], when: string, cls = ''): string {
  return `<div class="side ept ${cls}"><h4>2-D walk${when}: every guest-physical reference through the EPT</h4><table class="grid"><tr><th></th><th>gpa</th><th>EPT directory</th><th>EPT table</th><th>hpa</th></tr>${rows
    .map(
      (row) =>
        `<tr data-row="${row.what}"><th>${row.what}</th><td>${hex(row.gpa)}</td><td>${hex(row.dir.value)} ${bits(row.dir.value, EPT_BITS)}</td><td>${row.table ? `${hex(row.table.value)} ${bits(row.table.value, EPT_BITS)}` : '—'}</td><td>${row.hpa !== undefined ? hex(row.hpa) : '<span class="fault">EPT violation</span>'}</td></tr>`,
    )
    .join(
      '',
    )}</table><p>each row: 2 EPT references, then the guest entry itself (DESIGN §9: up to (2+1)(2+1)−1 = 8 for a full walk)</p></div>`;
}

function walkHtml(w: Walk, r: RunData): string {
  const head = `<h3>${w.access} ${hex(w.la)} (${w.user ? 'user' : 'supervisor'})${w.errorCode !== undefined ? ` — <span class="fault">#PF error code <span class="errcode">${hex(w.errorCode, 1)}</span> ${bits(w.errorCode, PFEC_BITS)}</span>` : ''}</h3>`;
  let guest: string;
  if (!w.guest) guest = '<p>paging off: linear = physical (DESIGN §3.5)</p>';
  else {
    const g = w.guest;
    const pdeNp = (g.pde.value & arch.PTE_P) === 0;
    const pteNp = g.pte !== undefined && (g.pte.value & arch.PTE_P) === 0;
    guest =
      `<table class="entries">${entryRow('PDE', g.pde, PTE_BITS, pdeNp ? 'np' : '')}${entryRow('PTE', g.pte, PTE_BITS, pteNp ? 'np' : '')}</table>` +
      (g.gpa !== undefined
        ? `<p>→ gpa ${hex(g.gpa)}${g.large ? ' (4 MiB page)' : ''}</p>`
        : `<p class="fault">not present: the walk stops at the ${pdeNp ? 'PDE' : 'PTE'}</p>`);
  }
  const guestTitle =
    r.engine === 'interpret' ? 'software walk (the interpreter reads the guest tables)' : 'guest walk (guest tables in guest RAM)';
  let side = '';
  const when = w.before ? ' after this step' : '';
  if (w.shadow)
    side = (w.before?.shadow ? shadowHtml(w, w.before.shadow, ' before this step', 'before') : '') + shadowHtml(w, w.shadow, when);
  if (w.ept) side = (w.before?.ept ? eptHtml(w.before.ept, ' before this step', 'before') : '') + eptHtml(w.ept, when);
  return `<div class="walk">${head}<div class="pair"><div class="side guest"><h4>${guestTitle}</h4>${guest}</div>${side}</div></div>`;
}

function show(k: number): void {
  current = Math.max(0, Math.min(steps, k));
  $('pos').textContent = `step ${current} / ${steps}${data.truncated ? '+' : ''}`;
  for (const m of marked) m.classList.remove('next', 'ran');
  marked = [];
  const st = frames[0]![Math.min(current, frames[0]!.length - 1)]!;
  const nextEl = document.getElementById(`L${st[F.eip]! >>> 0}`);
  const ran = current > 0 ? runs[0]!.steps[current - 1] : undefined;
  const ranEl = ran ? document.getElementById(`L${ran.at}`) : null;
  if (ranEl) {
    ranEl.classList.add('ran');
    marked.push(ranEl);
  }
  if (nextEl) {
    nextEl.classList.add('next');
    marked.push(nextEl);
  }
  scrollTarget = nextEl;
  $('state').innerHTML = stateTable();
  $('step').innerHTML = runs
    .map((r, i) => `<div class="run">${runs.length > 1 ? `<h3>${esc(r.engine)}</h3>` : ''}${stepInfo(r, i)}</div>`)
    .join('');
  $('walks').innerHTML = runs
    .map((r) => {
      const s = current > 0 ? r.steps[current - 1] : undefined;
      const ws = (s?.w ?? []).map((i) => walkHtml(r.walks[i]!, r)).join('');
      return `<div class="run">${runs.length > 1 ? `<h3>${esc(r.engine)}</h3>` : ''}${ws || '<p>—</p>'}</div>`;
    })
    .join('');
  $('total').textContent = `run: ${runTotal()} modelled cycles`;
  repaint();
  const hash = `#step=${current}`;
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

/**
 * What needs layout — the listing scrolled to the next instruction, the timeline's marker —
 * happens once per animation frame, however many steps a held key took in between.
 */
let scrollTarget: HTMLElement | null = null;
let repaintPending = false;
function repaint(): void {
  if (repaintPending) return;
  repaintPending = true;
  requestAnimationFrame(() => {
    repaintPending = false;
    drawTimeline();
    scrollTarget?.scrollIntoView({ block: 'nearest' });
  });
}

function go(k: number): void {
  show(k);
}

function findFrom(pred: (s: StepRecord) => boolean): void {
  const r = runs[runs.length - 1]!;
  for (let i = current; i < r.steps.length; i++)
    if (pred(r.steps[i]!)) {
      go(i + 1);
      return;
    }
}

$('first').onclick = () => go(0);
$('prev').onclick = () => go(current - 1);
$('next').onclick = () => go(current + 1);
$('last').onclick = () => go(steps);
$('next-event').onclick = () => findFrom((s) => s.t !== undefined);
$('next-exit').onclick = () => findFrom((s) => s.x !== undefined);
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLSelectElement) return;
  const keys: Record<string, () => void> = {
    ArrowLeft: () => go(current - 1),
    ArrowRight: () => go(current + 1),
    Home: () => go(0),
    End: () => go(steps),
    e: () => findFrom((s) => s.t !== undefined),
    x: () => findFrom((s) => s.x !== undefined),
  };
  const f = keys[e.key];
  if (f) {
    e.preventDefault();
    f();
  }
});
window.addEventListener('hashchange', () => go(frameFromHash() ?? current));

function frameFromHash(): number | undefined {
  const m = /step=(\d+)/.exec(location.hash);
  return m ? Number(m[1]) : undefined;
}

if (data.divergence) {
  const d = data.divergence;
  $('divergence').innerHTML = `first divergence at step ${d.frame} (<code>${esc(d.insn)}</code>): ${d.fields
    .map((f) => `<b>${esc(f.path)}</b> spec ${esc(valueText(f.spec))} vs engine ${esc(valueText(f.engine))}`)
    .join('; ')}`;
  $('divergence').onclick = () => go(d.frame);
}
show(frameFromHash() ?? data.divergence?.frame ?? 0);
// For tests/explain/measure.ts: when the first frame was drawn, since navigation start.
performance.mark('popek-first-frame');
if (data.divergence && frameFromHash() === data.divergence.frame) document.querySelector('.diverged')?.scrollIntoView({ block: 'center' });
