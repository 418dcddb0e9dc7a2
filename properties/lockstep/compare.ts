// Comparing two observations field by field (DESIGN §2): which fields differ, and for
// RAM the first differing address. Cheap fields first; RAM last and with memcmp.

import type { Observation, TraceEntry } from '../../spec/observation.ts';
import { REG_NAMES } from '../../spec/observation.ts';

export interface FieldDiff {
  /** e.g. `regs.eax`, `trace[3]`, `ram[0x1234]` */
  path: string;
  spec: unknown;
  engine: unknown;
}

const SCALARS = ['status', 'icount', 'eip', 'eflags', 'cpl', 'cr0', 'cr2', 'cr3', 'cr4', 'tr', 'console'] as const;

/** Field by field: two engines may build the same entry with its keys in another order. */
function sameTrace(x: TraceEntry, y: TraceEntry): boolean {
  if (x.kind === 'shutdown' || y.kind === 'shutdown') return x.kind === y.kind && x.icount === y.icount;
  return (
    x.kind === y.kind && x.icount === y.icount && x.vector === y.vector && x.eip === y.eip && x.errorCode === y.errorCode && x.cr2 === y.cr2
  );
}

/** Every differing field except RAM. */
export function diffState(a: Observation, b: Observation): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const k of SCALARS) if (a[k] !== b[k]) out.push({ path: k, spec: a[k], engine: b[k] });
  for (const r of REG_NAMES) if (a.regs[r] !== b.regs[r]) out.push({ path: `regs.${r}`, spec: a.regs[r], engine: b.regs[r] });
  if (a.idtr.base !== b.idtr.base || a.idtr.limit !== b.idtr.limit) out.push({ path: 'idtr', spec: a.idtr, engine: b.idtr });
  if (a.device.counter !== b.device.counter) out.push({ path: 'device.counter', spec: a.device.counter, engine: b.device.counter });
  if (JSON.stringify(a.device.log) !== JSON.stringify(b.device.log))
    out.push({ path: 'device.log', spec: a.device.log, engine: b.device.log });
  const n = Math.max(a.trace.length, b.trace.length);
  for (let i = 0; i < n; i++) {
    const x = a.trace[i];
    const y = b.trace[i];
    if (x === undefined || y === undefined || !sameTrace(x, y)) {
      out.push({ path: `trace[${i}]`, spec: x ?? null, engine: y ?? null });
      break; // the first differing event is the one that matters
    }
  }
  if (a.pending.join() !== b.pending.join()) out.push({ path: 'pending', spec: a.pending, engine: b.pending });
  return out;
}

/** The first differing byte of guest RAM, or undefined. */
export function firstRamDifference(a: Uint8Array, b: Uint8Array): number | undefined {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(a, b) === 0) return undefined;
  // Narrow down in 4 KiB pages with memcmp, then bytes.
  for (let page = 0; page < a.length; page += 4096) {
    const end = Math.min(page + 4096, a.length);
    if (Buffer.compare(a.subarray(page, end), b.subarray(page, end)) !== 0) {
      for (let i = page; i < end; i++) if (a[i] !== b[i]) return i;
    }
  }
  return undefined;
}

export function diffObservations(a: Observation, b: Observation): FieldDiff[] {
  const out = diffState(a, b);
  const addr = firstRamDifference(a.ram, b.ram);
  if (addr !== undefined) out.push(ramDiff(a, b, addr));
  return out;
}

export function ramDiff(a: Observation, b: Observation, addr: number): FieldDiff {
  const word = (ram: Uint8Array) => {
    const base = addr & ~3;
    return (
      '0x' +
      [...ram.subarray(base, base + 4)]
        .reverse()
        .map((x) => x.toString(16).padStart(2, '0'))
        .join('')
    );
  };
  return {
    path: `ram[0x${addr.toString(16)}]`,
    spec: `byte 0x${a.ram[addr]?.toString(16)} (word ${word(a.ram)})`,
    engine: `byte 0x${b.ram[addr]?.toString(16)} (word ${word(b.ram)})`,
  };
}
