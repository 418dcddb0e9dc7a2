// Guest instructions per second of the native engine (DESIGN §9 "wall-clock guest MIPS").
// Run: npx tsx src/engines/native.bench.ts
//
// The images are encoded by hand (DESIGN §3.3) because src/ may not import spec/'s
// assembler (DESIGN §1); each workload's assembly is in the comment beside it.

import type { Image } from '../../spec/observation.ts';
import { NativeEngine } from './native.ts';

const REG = { eax: 0, ecx: 1, edx: 2, ebx: 3, esp: 4, ebp: 5, esi: 6, edi: 7 } as const;
type Reg = keyof typeof REG;

/** A tiny encoder: `op`, register fields, NOBASE, imm32 (DESIGN §3.3). */
class Code {
  readonly bytes: number[] = [];
  constructor(readonly origin: number) {}
  get here(): number {
    return this.origin + this.bytes.length;
  }
  ins(op: number, a: Reg | 0 = 0, b: Reg | number = 0, imm = 0, nobase = false): this {
    const ra = a === 0 ? 0 : REG[a];
    const rb = typeof b === 'number' ? b : REG[b];
    this.bytes.push(op, ra, rb | (nobase ? 8 : 0), 0, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, (imm >>> 24) & 0xff);
    return this;
  }
  image(): Image {
    return { chunks: [{ addr: this.origin, bytes: Uint8Array.from(this.bytes) }], entry: this.origin };
  }
}

const MOV_IMM = 0x11;
const LOAD = 0x12;
const STORE = 0x13;
const ADD_IMM = 0x28;
const AND_IMM = 0x2a;
const SHL = 0x30;
const INC = 0x35;
const DEC = 0x36;
const CMP_IMM = 0x2d;
const JNZ = 0x55;
const MOV_CR = 0x70;
const HLT = 0x02;

/** (a) `mov ecx, N; l: dec ecx; jnz l; hlt` */
function tightLoop(n: number): Image {
  const c = new Code(0x1000);
  c.ins(MOV_IMM, 'ecx', 0, n);
  const l = c.here;
  c.ins(DEC, 'ecx').ins(JNZ, 0, 0, l).ins(HLT);
  return c.image();
}

/**
 * (b) Paging on (identity map of 4 MiB through 1024 PTEs), then a loop that loads and
 * stores one word in each of 768 pages (3 MiB of data), round after round; every 4096
 * iterations it reloads CR3, so the TLB is refilled by walks.
 */
function pagingLoop(n: number): Image {
  const PD = 0x1000;
  const PT = 0x2000;
  const c = new Code(0x8000);
  // for (ecx = 0, edx = 7; ecx != 1024; ecx++, edx += 4096) PT[ecx] = edx
  c.ins(MOV_IMM, 'eax', 0, PT | 7).ins(STORE, 'eax', 0, PD, true);
  c.ins(MOV_IMM, 'ecx', 0, 0).ins(MOV_IMM, 'edx', 0, 7);
  const fill = c.here;
  c.ins(0x10, 'ebx', 'ecx').ins(SHL, 'ebx', 0, 2).ins(STORE, 'edx', 'ebx', PT);
  c.ins(ADD_IMM, 'edx', 0, 0x1000).ins(INC, 'ecx').ins(CMP_IMM, 'ecx', 0, 1024).ins(JNZ, 0, 0, fill);
  c.ins(MOV_IMM, 'eax', 0, PD).ins(MOV_CR, 'eax', 3).ins(MOV_IMM, 'eax', 0, 0x80000001).ins(MOV_CR, 'eax', 0);
  // edi = iterations left, esi = page index
  c.ins(MOV_IMM, 'edi', 0, n).ins(MOV_IMM, 'esi', 0, 0);
  const loop = c.here;
  c.ins(0x10, 'ebx', 'esi').ins(SHL, 'ebx', 0, 12).ins(LOAD, 'eax', 'ebx', 0x100000);
  c.ins(INC, 'eax').ins(STORE, 'eax', 'ebx', 0x100004);
  c.ins(INC, 'esi').ins(CMP_IMM, 'esi', 0, 768);
  const noWrap = c.here + 16;
  c.ins(JNZ, 0, 0, noWrap + 8 * 0).ins(MOV_IMM, 'esi', 0, 0);
  // every 4096 iterations (edi & 0xfff == 0) reload cr3
  c.ins(0x10, 'eax', 'edi').ins(AND_IMM, 'eax', 0, 0xfff);
  const skip = c.here + 24;
  c.ins(JNZ, 0, 0, skip).ins(MOV_IMM, 'eax', 0, PD).ins(MOV_CR, 'eax', 3);
  c.ins(DEC, 'edi').ins(JNZ, 0, 0, loop).ins(HLT);
  return c.image();
}

function bench(name: string, image: Image, ramBytes: number): void {
  // Warm up the JIT on a fresh machine, then time a fresh one.
  new NativeEngine(image, { ramBytes }).run([], 2_000_000);
  const engine = new NativeEngine(image, { ramBytes });
  const t0 = process.hrtime.bigint();
  const obs = engine.run([], 200_000_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = engine.counters();
  const mips = obs.icount / seconds / 1e6;
  console.log(
    `${name.padEnd(14)} ${obs.icount.toLocaleString('en').padStart(13)} instr in ${seconds.toFixed(3)} s = ${mips.toFixed(1)} M instr/s` +
      `  [${obs.status}; tlb hits ${c.tlbHits}, misses ${c.tlbMisses}, walks ${c.walks}, flushes ${c.tlbFlushes}]`,
  );
}

bench('tight loop', tightLoop(50_000_000), 1 << 20);
bench('paging loop', pagingLoop(4_000_000), 8 << 20);
