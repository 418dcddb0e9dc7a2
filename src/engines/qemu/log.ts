// Reading QEMU's `-d cpu,int -singlestep` log (QEMU 7.2, target/i386): with one
// instruction per translation block, `cpu` prints the state before every instruction;
// `int` prints one line per interrupt or exception as its delivery starts,
//   `     0: v=0e e=0002 i=0 cpl=0 IP=0008:00000098 pc=00000098 SP=0010:00007ff0 CR2=00008000`
// followed by a state dump of its own (not an instruction boundary), and a `check_exception
// old: … new …` line when a fault during delivery turns into another.

export interface CpuState {
  regs: [number, number, number, number, number, number, number, number];
  eip: number;
  eflags: number;
  cpl: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  idtr: { base: number; limit: number };
  trBase: number;
}

export interface Delivery {
  vector: number;
  errorCode: number;
  /** `int n` (i=1). */
  software: boolean;
  /** CS:IP at delivery: the faulting instruction, or the `int` itself. */
  eip: number;
  cr2?: number;
  /** The state QEMU dumps as the delivery starts: after the last instruction that retired. */
  state?: CpuState;
}

/** One instruction boundary of the log, and the deliveries that started right before it. */
export interface Boundary {
  state: CpuState;
  deliveries: Delivery[];
}

const REG_ORDER = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'] as const;
const hex = (s: string | undefined): number => (s === undefined ? NaN : parseInt(s, 16) >>> 0);

/**
 * The boundaries from the first at `entry` on (the BIOS and the boot stub before it are
 * not the guest's). Deliveries seen after the last boundary are returned in `tail`.
 */
export function parseLog(
  text: string,
  entry: number,
  gdtBase: number,
): { boundaries: Boundary[]; tail: Delivery[]; tripleFault: boolean; lastFault?: number } {
  const lines = text.split('\n');
  const boundaries: Boundary[] = [];
  let deliveries: Delivery[] = [];
  let started = false;
  let dumpOf: Delivery | undefined;
  let tripleFault = false;
  /** The vector of the last fault raised while delivering (`check_exception` lines): the one that ends a triple fault. */
  let lastFault: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const v = /^\s*\d+: v=([0-9a-f]+) e=([0-9a-f]+) i=(\d) cpl=\d IP=[0-9a-f]+:([0-9a-f]+) .*?(?:CR2=([0-9a-f]+))?$/.exec(line);
    if (v) {
      const d: Delivery = { vector: hex(v[1]), errorCode: hex(v[2]), software: v[3] === '1', eip: hex(v[4]) };
      if (v[5] !== undefined) d.cr2 = hex(v[5]);
      if (started) deliveries.push(d);
      dumpOf = d; // the dump that follows is the state at delivery, not a boundary
      continue;
    }
    if (/Triple fault/i.test(line) && started) tripleFault = true;
    const check = /^check_exception old: 0x[0-9a-f]+ new 0x([0-9a-f]+)/.exec(line);
    if (check) lastFault = hex(check[1]);
    if (!line.startsWith('EAX=')) continue;
    const dump = lines.slice(i, i + 16).join('\n');
    i += 1;
    const field = (name: string) => hex(new RegExp(`(?:^|\\s)${name}=\\s*([0-9a-f]+)`, 'm').exec(dump)?.[1]);
    const state: CpuState = {
      regs: REG_ORDER.map(field) as CpuState['regs'],
      eip: field('EIP'),
      eflags: field('EFL'),
      cpl: field('CPL'),
      cr0: field('CR0'),
      cr2: field('CR2'),
      cr3: field('CR3'),
      cr4: field('CR4'),
      idtr: {
        base: hex(/^IDT=\s*([0-9a-f]+) ([0-9a-f]+)/m.exec(dump)?.[1]),
        limit: hex(/^IDT=\s*([0-9a-f]+) ([0-9a-f]+)/m.exec(dump)?.[2]),
      },
      trBase: hex(/^TR =[0-9a-f]+ ([0-9a-f]+)/m.exec(dump)?.[1]),
    };
    // A dump cut short (QEMU killed at the log budget) is not a boundary.
    if (
      [
        ...state.regs,
        state.eip,
        state.eflags,
        state.cpl,
        state.cr0,
        state.cr2,
        state.cr3,
        state.cr4,
        state.idtr.base,
        state.idtr.limit,
        state.trBase,
      ].some(Number.isNaN)
    )
      continue;
    if (dumpOf !== undefined) {
      dumpOf.state = state;
      dumpOf = undefined;
      continue;
    }
    if (!started) {
      // The guest's first instruction, under the boot stub's GDT (not a BIOS eip that happens to match).
      if (state.eip !== entry || !dump.includes(`GDT=     ${gdtBase.toString(16).padStart(8, '0')} `)) continue;
      started = true;
      deliveries = [];
    }
    boundaries.push({ state, deliveries });
    deliveries = [];
  }
  return { boundaries, tail: deliveries, tripleFault, ...(lastFault === undefined ? {} : { lastFault }) };
}
