// Everything of a case's program but the code, as blocks of words at an address: the IDT,
// the TSS, the IDT descriptor, the page tables, the initial data and the crafted stack.
// Each block carries the `.org`/`.dd` lines that print it, so the words printed are the
// words loaded (render.ts's `imageOf` loads them without assembling them).

import { MMIO, MMIO_PDE, V_DF, codeSelector, hex, stackSelector } from '../arbitraries/layout.ts';
import { P, PS, RW, US } from '../arbitraries/paging.ts';
import { brokenVector, gateOf, idtLimit } from './idt.ts';
import { resolveTarget } from './insn.ts';
import { DATA, IDT, IDT_DESC, MMIO_PTE, PD, PT, PT_MMIO, RAM_BYTES, TSS, valueText } from './layout.ts';
import { cr4Of, pde0, permText, ptEntries } from './paging.ts';
import type { InsnCase } from './state.ts';

/** Data words loaded at `addr`, and the lines that print them (the same words, as `.org`/`.dd`). */
export interface Block {
  addr: number;
  words: number[];
  /** Only printing needs them: a run does not pay for building the text. */
  lines: () => string[];
}

/** Words of initial RAM outside the code: data, the IDT descriptor at D0 + 0x100, the crafted stack. */
function ramWords(c: InsnCase): [number, number, string][] {
  const s = c.state;
  const out: [number, number, string][] = [];
  const claimed = new Set<number>();
  const put = (addr: number, v: number, note: string): void => {
    const bytes = [0, 1, 2, 3].map((k) => addr + k);
    if (bytes.some((x) => x < DATA[0] || x >= RAM_BYTES || claimed.has(x))) return;
    bytes.forEach((x) => claimed.add(x));
    out.push([addr, v >>> 0, note]);
  };
  s.data.forEach((v, i) => put(DATA[i]!, v, `D${i}`));
  put(DATA[0] + 0x100, (s.desc.limit | (s.desc.base << 16)) >>> 0, 'an IDT descriptor: limit, base');
  put(DATA[0] + 0x104, s.desc.base >>> 16, '');
  const f = c.frame;
  if (f.present) {
    const ring = f.ring;
    const csGood = codeSelector(ring);
    const cs = {
      valid: csGood,
      'other-rpl': (csGood & ~3) | ((ring + 1) & 3),
      'upper-bits': (csGood | 0xabcd0000) >>> 0,
      'data-selector': stackSelector(ring),
      random: f.junk & 0xffff,
    }[f.cs];
    const ssGood = stackSelector(cs & 3);
    const ss = {
      valid: ssGood,
      'other-ring': stackSelector((ring + 1) & 3),
      'upper-bits': (ssGood | 0x55550000) >>> 0,
      'rpl-flip': ssGood ^ 1,
      random: f.junk >>> 16,
    }[f.ss];
    const w0 = c.insn.op.name === 'popf' ? f.popfWord : resolveTarget(c, f.eip);
    const words: [number, string][] = [
      [w0, c.insn.op.name === 'popf' ? 'eflags for popf' : 'eip'],
      [cs, 'CS'],
      [f.eflags, 'eflags'],
      [f.esp, 'esp'],
      [ss, 'SS'],
    ];
    words.forEach(([v, note], k) => put((s.esp + 4 * k) >>> 0, v, `stack: ${note}`));
  }
  return out.sort((x, y) => x[0] - y[0]);
}

function idtBlock(c: InsnCase): Block {
  // Only the broken vector and #DF can differ from the usual gate.
  const usual = gateOf(c, 0x100);
  const special = new Set([brokenVector(c), V_DF]);
  const gates = Array.from({ length: 256 }, (_, v) => (special.has(v) ? gateOf(c, v) : usual));
  const lines = (): string[] => [
    `.equ GATE_LO, ${hex(usual.lo)}            ; offset 15:0 = HANDLER, selector 0x08`,
    `.equ GATE_HI, ${hex(usual.hi)}            ; P, DPL ${c.idt.dpl}, ${c.idt.trap ? 'trap' : 'interrupt'} gate${c.idt.byte4 ? `, byte 4 = ${hex(c.idt.byte4)} (ignored)` : ''}`,
    '.org IDT',
    ...Array.from({ length: 32 }, (_, row) => {
      const v = 8 * row;
      const eight = gates.slice(v, v + 8);
      const notes = eight.flatMap((g, k) => (g.note ? [`${v + k}: ${g.note}`] : []));
      const text = eight.map((g) => (g.note ? `${hex(g.lo)}, ${hex(g.hi)}` : 'GATE_LO, GATE_HI'));
      return `    .dd ${text.join(', ')}    ; ${v}–${v + 7}${notes.length ? ` (${notes.join('; ')})` : ''}`;
    }),
  ];
  return { addr: IDT, words: gates.flatMap((g) => [g.lo, g.hi]), lines };
}

function pagingBlocks(c: InsnCase): Block[] {
  const pg = c.paging;
  const pde = pde0(c);
  // DESIGN §3.5.2: only with CR4.PSE is PS a 4 MiB page; without it PDE 1 stays not present.
  const big = cr4Of(c) ? P | PS | (pg.big.rw ? RW : 0) | (pg.big.us ? US : 0) : 0;
  const what = pg.mode === '4m' ? '4 MiB page at 0' : pg.mode === 'ps-without-pse' ? 'PT; PS set but CR4.PSE = 0, so ignored' : 'PT';
  const pt = ptEntries(c);
  // Read-only only without CR0.WP, so the handler's supervisor writes to the device go through.
  const mmio = [MMIO | P | (pg.mmio.rw || pg.wp ? RW : 0) | (pg.mmio.us ? US : 0), (MMIO + 0x1000) | P | RW | US].map((w) => w >>> 0);
  return [
    {
      addr: PD,
      words: [pde],
      lines: () => [
        '.org PD',
        `    .dd ${hex(pde)}`.padEnd(24) + `; PDE 0 (${what}): ${permText(pde)}${pg.pde.rsvd && pde & PS ? ' + bit 13' : ''}`,
      ],
    },
    ...(big === 0
      ? []
      : [
          {
            addr: PD + 4,
            words: [big],
            lines: () => ['.org PD + 4', `    .dd ${hex(big)}`.padEnd(24) + `; PDE 1 (BIG, a 4 MiB alias of frame 0): ${permText(big)}`],
          },
        ]),
    {
      addr: PD + 4 * MMIO_PDE,
      words: [PT_MMIO | P | RW | US],
      lines: () => [`.org PD + 4 * ${hex(MMIO_PDE)}`, '    .dd PT_MMIO | 0x7'.padEnd(24) + '; PDE of the device window'],
    },
    {
      addr: PT,
      words: pt.map(([, v]) => v),
      lines: () => ['.org PT', ...pt.map(([n, v, note]) => `    .dd ${hex(v)}`.padEnd(24) + `; ${hex(n << 12)} ${note}: ${permText(v)}`)],
    },
    {
      addr: PT_MMIO + 4 * MMIO_PTE,
      words: mmio,
      lines: () => [
        `.org PT_MMIO + 4 * ${hex(MMIO_PTE)}`,
        `    .dd ${hex(mmio[0]!)}, ${hex(mmio[1]!)}`.padEnd(24) + '; the device page, then open bus',
      ],
    },
  ];
}

/** Everything but the code: IDT, TSS, IDT descriptor, page tables, initial data and stack. */
export function dataBlocks(c: InsnCase): Block[] {
  const limit = idtLimit(c);
  const desc = [((limit & 0xffff) | (IDT << 16)) >>> 0, IDT >>> 16];
  return [
    idtBlock(c),
    { addr: TSS, words: [0, c.state.esp0 >>> 0], lines: () => ['.org TSS', `    .dd 0, ${valueText(c.state.esp0)}`] },
    {
      addr: IDT_DESC,
      words: desc,
      lines: () => ['.org IDT_DESC', `    .dd ${hex(desc[0]!)}, ${hex(desc[1]!)}`.padEnd(24) + `; limit ${hex(limit)}, base IDT`],
    },
    ...pagingBlocks(c),
    ...ramWords(c).map(([addr, v, note]): Block => ({
      addr,
      words: [v],
      lines: () => [`.org ${hex(addr)}`.padEnd(20) + (note ? `; ${note}` : ''), `    .dd ${hex(v)}`],
    })),
  ];
}
