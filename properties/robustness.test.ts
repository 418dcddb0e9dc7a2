// Robustness (DESIGN §6.14, §7): random bytes as code and as page tables never crash an
// engine — every run ends in a guest-visible status — and the engines still agree.
// Determinism: the same image and events give the same observation, byte for byte.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { SpecMachine } from '../spec/machine.ts';
import type { HostEvent, Image } from '../spec/observation.ts';
import { NativeEngine } from '../src/engines/native.ts';
import { engineFactory } from '../src/engines/registry.ts';
import { lockstep } from './lockstep/lockstep.ts';
import { formatDivergence } from './lockstep/report.ts';
import { observationJson } from './observation-json.ts';

const RAM = 64 * 1024;

/**
 * Random bytes, biased toward what decodes: a valid opcode byte with small fields is far
 * more likely to do something than uniform noise (which is almost always #UD).
 */
const insnArb = fc.oneof(
  fc.uint8Array({ minLength: 8, maxLength: 8 }),
  fc
    .tuple(
      fc.constantFrom(
        0x01,
        0x10,
        0x11,
        0x12,
        0x13,
        0x14,
        0x15,
        0x16,
        0x20,
        0x28,
        0x30,
        0x33,
        0x40,
        0x41,
        0x42,
        0x44,
        0x45,
        0x47,
        0x54,
        0x60,
        0x61,
        0x62,
        0x63,
        0x64,
        0x65,
        0x70,
        0x71,
        0x72,
        0x73,
        0x74,
        0x76,
        0x77,
      ),
      fc.nat(7),
      fc.nat(15),
      fc.constantFrom(0, 4, 8, 0x100, 0x1000, 0x7ff8, 0x8000, 0xfee00000, 0xfffffff8, 0x80000001, 0x10),
      fc.constantFrom(0, 0, 0, 1),
    )
    .map(([op, a, b, imm, junk]) => Uint8Array.of(op, a, b, junk, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, imm >>> 24)),
);

const PD = 0x8000;
const PT = 0x9000;
const IDT = 0xa000;
const HANDLERS = 0x1000; // random code too: handlers run whatever is there

/** Encode one instruction (DESIGN §3.3) for the fixed prologue. */
const insn = (op: number, a: number, b: number, imm: number) =>
  Uint8Array.of(op, a, b, 0, imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, imm >>> 24);
const movEaxImm = (v: number) => insn(0x11, 0, 0, v);
const movCr = (cr: number) => insn(0x70, 0, cr, 0);

/**
 * A whole image. A prologue (not random) loads IDTR, TR, CR3, CR4 and CR0 from the
 * setup so that random tables are really used: paging on in most runs, over a directory
 * and a table whose entries are mostly present (flags random) and partly random words; an
 * IDT whose gates are mostly well-formed, pointing into random code; then random code.
 */
const imageArb: fc.Arbitrary<Image> = fc
  .record({
    code: fc.array(insnArb, { minLength: 1, maxLength: 64 }),
    handlers: fc.array(insnArb, { minLength: 1, maxLength: 16 }),
    paging: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
    pse: fc.boolean(),
    wp: fc.boolean(),
    pteFlags: fc.array(fc.oneof({ arbitrary: fc.constant(7), weight: 6 }, { arbitrary: fc.nat(0x7f), weight: 1 }), {
      minLength: 17,
      maxLength: 17,
    }), // page 16 is beyond RAM: open bus
    pde0: fc.oneof(fc.constant(PT | 7), fc.constant(PT | 3), fc.constant(0x87), fc.integer({ min: 0, max: 0xffffffff })),
    // Exception vectors 0–31 always get a gate, mostly well-formed; other vectors at random.
    exceptionGates: fc.array(
      fc.tuple(
        fc.nat(15),
        fc.oneof({ arbitrary: fc.constantFrom(0x8e00, 0xef00, 0x8f00), weight: 8 }, { arbitrary: fc.nat(0xffff), weight: 1 }),
      ),
      { minLength: 32, maxLength: 32 },
    ),
    gates: fc.array(
      fc.tuple(fc.integer({ min: 32, max: 255 }), fc.nat(15), fc.oneof(fc.constant(0x8e00), fc.constant(0xef00), fc.nat(0xffff))),
      { maxLength: 48 },
    ),
    words: fc.array(fc.tuple(fc.nat(RAM / 4 - 1), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 32 }),
    /** An instruction in the last 4 bytes of RAM, reached by a jump: its fetch crosses into open bus. */
    ramEnd: fc.option(insnArb, { freq: 4 }),
  })
  .map((g) => {
    const bytes = new Uint8Array(RAM);
    const dv = new DataView(bytes.buffer);
    for (const [w, v] of g.words) dv.setUint32(w * 4, v >>> 0, true);
    dv.setUint32(PD, g.pde0 >>> 0, true);
    g.pteFlags.forEach((f, i) => dv.setUint32(PT + 4 * i, (i << 12) | f, true));
    const allGates: [number, number, number][] = [
      ...g.exceptionGates.map(([h, attrs], v): [number, number, number] => [v, h, attrs]),
      ...g.gates,
    ];
    for (const [v, h, attrs] of allGates) {
      const off = HANDLERS + 8 * h;
      dv.setUint32(IDT + 8 * v, (off & 0xffff) | (0x08 << 16), true);
      dv.setUint32(IDT + 8 * v + 4, (off & 0xffff0000) | attrs, true);
    }
    g.handlers.forEach((x, i) => bytes.set(x, HANDLERS + 8 * i));
    dv.setUint32(0xb000, 0x7f8, true); // IDTR image at 0xB000: limit 0x7FF, base IDT
    dv.setUint32(0xb002, IDT, true);
    dv.setUint16(0xb000, 0x7ff, true);
    dv.setUint32(0xb104, 0x7000, true); // TSS at 0xB100, ESP0
    const prologue = [
      insn(0x72, 0, 0x08, 0xb000), // lidt [0xB000]
      movEaxImm(0xb100),
      insn(0x74, 0, 0, 0), // ltr eax
      insn(0x11, 4, 0, 0x6000), // mov esp, 0x6000
      movEaxImm(PD),
      movCr(3),
      movEaxImm(g.pse ? 0x10 : 0),
      movCr(4),
      movEaxImm(1 | (g.wp ? 0x10000 : 0) | (g.paging ? 0x80000000 : 0)),
      movCr(0),
    ];
    const code = [...g.code];
    if (g.ramEnd !== null) {
      bytes.set(g.ramEnd.subarray(0, 4), RAM - 4);
      code.unshift(insn(0x40, 0, 0, RAM - 4)); // jmp RAM - 4, first thing after the prologue
    }
    [...prologue, ...code].forEach((x, i) => bytes.set(x, 0x200 + 8 * i));
    return { chunks: [{ addr: 0, bytes }], entry: 0x200 };
  });

const eventsArb: fc.Arbitrary<HostEvent[]> = fc.array(
  fc.oneof(
    fc.record({ at: fc.nat(300), kind: fc.constant('irq' as const), vector: fc.integer({ min: 32, max: 255 }) }),
    fc.record({ at: fc.nat(300), kind: fc.constant('flush-tlb' as const) }),
  ),
  { maxLength: 6 },
);

test.each(['native', 'interpret', 'vmx-shadow', 'vmx-ept'])(
  'random code and random tables: %s never throws and agrees with the spec',
  (engine) => {
    const make = engineFactory(engine);
    const seen = { paging: 0, handlerEntered: 0, longRun: 0 };
    const runs = 400;
    fc.assert(
      fc.property(imageArb, eventsArb, (image, events) => {
        const r = lockstep(make, { image, config: { ramBytes: RAM }, events, maxSteps: 300 });
        if (r.divergence) throw new Error(formatDivergence(r.divergence, engine));
        expect(['running', 'halted', 'shutdown']).toContain(r.spec.status);
        if (r.spec.cr0 >>> 31) seen.paging++;
        if (r.spec.trace.some((e) => e.kind !== 'shutdown')) seen.handlerEntered++;
        if (r.steps >= 20) seen.longRun++;
      }),
      { seed: 0x5eed, numRuns: runs },
    );
    // Not only easy cases: paging is on, handlers are entered, runs get past the prologue.
    expect(seen.paging / runs).toBeGreaterThan(0.5);
    expect(seen.handlerEntered / runs).toBeGreaterThan(0.3);
    expect(seen.longRun / runs).toBeGreaterThan(0.3);
  },
);

test('determinism: the same image and events give the same observation, byte for byte', () => {
  fc.assert(
    fc.property(imageArb, eventsArb, (image, events) => {
      for (const make of [(i: Image) => new SpecMachine(i, { ramBytes: RAM }), (i: Image) => new NativeEngine(i, { ramBytes: RAM })]) {
        const a = JSON.stringify(observationJson(make(image).run(events, 500)));
        const b = JSON.stringify(observationJson(make(image).run(events, 500)));
        expect(a).toBe(b);
      }
    }),
    { seed: 0xd37e, numRuns: 100 },
  );
});
