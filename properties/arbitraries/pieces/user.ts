// Ring 1–3 pieces (DESIGN §3.1, §3.4, §3.7): `iret` to an outer ring with a chosen IOPL
// and IF, a few instructions there, and back to ring 0 through `int 0x80` (a DPL-3 trap
// gate whose handler returns to the instruction after the `int`, on the ESP0 stack).
// The instructions are the ones whose behaviour depends on the ring: privileged ones
// (#GP at cpl > 0), IOPL-sensitive ones (cli/sti/in/out), the sensitive-but-unprivileged
// ones that break classic trap-and-emulate (popf, pushf, sidt, str, `mov a, cs`), user
// accesses to supervisor pages (#PF with U), `int` through gates of DPL 3 and 0.

import fc from 'fast-check';
import { PLAY_ENTRIES } from '../layout.ts';
import { hex, ins, label, mostly, regArb, valueArb, type Ctx, type Emit, type Reg } from './common.ts';
import { accessLines, offArb } from './memory.ts';

export type UserOp =
  | { op: 'popf'; image: number }
  | { op: 'pushf'; reg: Reg }
  | { op: 'cli' | 'sti' | 'hlt' | 'ud2' | 'nop' }
  | { op: 'sensitive'; what: 'sidt' | 'str' | 'movcs' }
  | { op: 'privileged'; what: 'mov-cr0' | 'mov-to-cr3' | 'lidt' | 'ltr' | 'invlpg' }
  | { op: 'io'; port: number; out: boolean }
  | { op: 'int'; vector: number }
  | { op: 'mem'; store: boolean; target: 'DATA0' | 'DATA1' | 'KSTACK' | 'IDT' | 'PLAY'; entry: number; off: number; reg: Reg }
  | { op: 'alu'; reg: Reg; value: number };

export interface UserPiece {
  kind: 'user';
  ring: 3 | 1 | 2;
  iopl: number;
  if: boolean;
  ops: UserOp[];
  /** A malformed iret frame (DESIGN §3.4: #GP with the selector): rare. */
  badFrame: 'none' | 'cs' | 'ss';
}

const IF = 0x200;

export const userOpArb: fc.Arbitrary<UserOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('popf' as const),
      image: fc
        .tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.constantFrom(0, 0x1, 0x8c1))
        .map(([i, l, s]) => ((i ? IF : 0) | (l << 12) | s) >>> 0),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pushf' as const), reg: regArb }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constantFrom('cli' as const, 'sti' as const, 'hlt' as const, 'ud2' as const, 'nop' as const) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('sensitive' as const),
      what: fc.constantFrom('sidt' as const, 'str' as const, 'movcs' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('privileged' as const),
      what: fc.constantFrom('mov-cr0' as const, 'mov-to-cr3' as const, 'lidt' as const, 'ltr' as const, 'invlpg' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('io' as const), port: fc.constantFrom(0xe9, 0x60), out: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('int' as const), vector: fc.constantFrom(0x81, 0x40, 0x20) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('mem' as const),
      store: fc.boolean(),
      target: fc.constantFrom('DATA0' as const, 'PLAY' as const, 'DATA1' as const, 'KSTACK' as const, 'IDT' as const),
      entry: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }),
      off: offArb,
      reg: regArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('alu' as const), reg: regArb, value: valueArb }) },
);

export const userArb: fc.Arbitrary<UserPiece> = fc.record({
  kind: fc.constant('user' as const),
  ring: mostly<3 | 1 | 2>(3, fc.constantFrom<3 | 1 | 2>(1, 2), 3),
  iopl: mostly(0, fc.integer({ min: 1, max: 3 }), 3),
  if: mostly(true, fc.constant(false), 3),
  ops: fc.array(userOpArb, { minLength: 0, maxLength: 6 }),
  badFrame: mostly<'none' | 'cs' | 'ss'>('none', fc.constantFrom('cs' as const, 'ss' as const), 12),
});

function opLines(o: UserOp): string[] {
  switch (o.op) {
    case 'popf':
      return [ins(`push ${hex(o.image)}`), ins('popf', 'IF changes only if cpl ≤ IOPL, IOPL only at cpl 0; never a fault')];
    case 'pushf':
      return [ins('pushf', 'shows the real IF and IOPL'), ins(`pop ${o.reg}`)];
    case 'cli':
    case 'sti':
      return [ins(o.op, '#GP if cpl > IOPL')];
    case 'hlt':
      return [ins('hlt', '#GP at cpl > 0')];
    case 'ud2':
    case 'nop':
      return [ins(o.op)];
    case 'sensitive':
      return o.what === 'sidt'
        ? [ins('sidt [DATA0 + 0x100]', 'not privileged: reveals the IDT base')]
        : o.what === 'str'
          ? [ins('str edx', 'not privileged: reveals TR')]
          : [ins('mov edx, cs', 'not privileged: reveals the ring')];
    case 'privileged':
      return {
        'mov-cr0': [ins('mov eax, cr0', '#GP at cpl > 0')],
        'mov-to-cr3': [ins('mov eax, PD_B'), ins('mov cr3, eax', '#GP at cpl > 0')],
        lidt: [ins('lidt [idt_small]', '#GP at cpl > 0')],
        ltr: [ins('mov eax, 0'), ins('ltr eax', '#GP at cpl > 0')],
        invlpg: [ins('invlpg [PLAY]', '#GP at cpl > 0')],
      }[o.what];
    case 'io':
      return o.out
        ? [ins('mov eax, 0x55'), ins(`out ${hex(o.port)}, eax`, '#GP if cpl > IOPL')]
        : [ins(`in eax, ${hex(o.port)}`, '#GP if cpl > IOPL')];
    case 'int':
      return [ins(`int ${hex(o.vector)}`, o.vector === 0x81 ? 'DPL 3: a system call that returns' : 'DPL 0: #GP(8n+2) from an outer ring')];
    case 'mem': {
      const base = o.target === 'PLAY' ? `PLAY + ${hex(o.entry * 0x1000)}` : o.target;
      return [...(o.store ? [ins(`mov ${o.reg}, 0x3333`)] : []), ...accessLines(o.store, 4, `${base} + ${hex(o.off)}`, o.reg, false)];
    }
    case 'alu':
      return [ins(`mov ${o.reg}, ${hex(o.value)}`), ins(`add ${o.reg}, ${o.reg}`)];
  }
}

/**
 * iret pops eip, CS, eflags, esp, SS (DESIGN §3.4); `int 0x80` comes back to `${id}_back`
 * with esp = ESP0 = the kernel stack top, where every piece leaves esp.
 */
export function renderUser(p: UserPiece, { id }: Ctx): Emit {
  const r = p.ring;
  const cs = p.badFrame === 'cs' ? `USER_CS${r} + 1` : `USER_CS${r}`;
  const ss = p.badFrame === 'ss' ? `USER_SS${r} ^ 1` : `USER_SS${r}`;
  const eflags = (0x2 | (p.if ? IF : 0) | (p.iopl << 12)) >>> 0;
  return {
    title: `ring ${r} (IOPL ${p.iopl}, IF ${p.if ? 1 : 0}): ${p.ops.length === 0 ? 'nothing' : p.ops.map((o) => (o.op === 'sensitive' || o.op === 'privileged' ? o.what : o.op)).join(', ')}`,
    lines: [
      ins(`push ${ss}`),
      ins('push USTACK_TOP'),
      ins(`push ${hex(eflags)}`),
      ins(`push ${cs}`),
      ins(`push ${id}_user`),
      ins('iret', `to ring ${r}`),
      label(`${id}_user`),
      ...p.ops.flatMap(opLines),
      label(`${id}_user_end`),
      ins('int 0x80', 'back to ring 0'),
    ],
  };
}
