// Stack and control-flow pieces (DESIGN §3.4): push/pop (including push of an immediate),
// call/ret to a local subroutine, a bounded loop, and a call into code reached through a
// paging window (the playground or the 4 MiB alias) — an instruction fetch that may
// fault, after which the #PF handler resumes at the piece's end (`fetch_resume`).

import fc from 'fast-check';
import { PLAY_ENTRIES } from '../layout.ts';
import { hex, ins, label, regArb, valueArb, type Ctx, type Emit, type Reg } from './common.ts';
import { accessLines, offArb } from './memory.ts';

export interface PushPopPiece {
  kind: 'push-pop';
  value: number;
  from: Reg;
  /** The two registers that receive the values, in pop order. */
  into: [Reg, Reg];
}

export interface CallPiece {
  kind: 'call';
  reg: Reg;
  value: number;
  /** Call through a register (`call eax`) instead of an immediate target. */
  indirect: boolean;
}

/** `ecx` counts; the body must not touch it, so it uses the other registers. */
export interface LoopPiece {
  kind: 'loop';
  count: number;
  body: 'add' | 'load-play' | 'store-play' | 'pushf-pop';
  entry: number;
  off: number;
}

export interface FarCallPiece {
  kind: 'far-call';
  /** Playground entry i (PLAY + 0x1000·i) or the 4 MiB alias of a stub frame. */
  target: { via: 'play'; entry: number } | { via: 'big'; frame: 'F0' | 'F1' | 'F2' | 'F3' };
}

export const pushPopArb: fc.Arbitrary<PushPopPiece> = fc.record({
  kind: fc.constant('push-pop' as const),
  value: valueArb,
  from: regArb,
  into: fc.tuple(regArb, regArb),
});

export const callArb: fc.Arbitrary<CallPiece> = fc.record({
  kind: fc.constant('call' as const),
  reg: regArb.filter((r) => r !== 'eax'),
  value: valueArb,
  indirect: fc.boolean(),
});

export const loopArb: fc.Arbitrary<LoopPiece> = fc.record({
  kind: fc.constant('loop' as const),
  count: fc.integer({ min: 1, max: 12 }),
  body: fc.constantFrom('add' as const, 'load-play' as const, 'store-play' as const, 'pushf-pop' as const),
  entry: fc.integer({ min: 0, max: PLAY_ENTRIES - 1 }),
  off: offArb,
});

export const farCallArb: fc.Arbitrary<FarCallPiece> = fc.record({
  kind: fc.constant('far-call' as const),
  target: fc.oneof(
    fc.record({ via: fc.constant('play' as const), entry: fc.integer({ min: 0, max: PLAY_ENTRIES }) }),
    fc.record({ via: fc.constant('big' as const), frame: fc.constantFrom('F0' as const, 'F1' as const, 'F2' as const, 'F3' as const) }),
  ),
});

export function renderPushPop(p: PushPopPiece, _ctx: Ctx): Emit {
  return {
    title: 'push/pop',
    lines: [ins(`push ${hex(p.value)}`), ins(`push ${p.from}`), ins(`pop ${p.into[0]}`), ins(`pop ${p.into[1]}`)],
  };
}

export function renderCall(p: CallPiece, { id }: Ctx): Emit {
  const lines = p.indirect ? [ins(`mov eax, ${id}_sub`), ins('call eax')] : [ins(`call ${id}_sub`)];
  lines.push(ins(`jmp ${id}_end`), label(`${id}_sub`), ins(`mov ${p.reg}, ${hex(p.value)}`), ins(`add ${p.reg}, 1`), ins('ret'));
  return { title: `call/ret${p.indirect ? ' through a register' : ''}`, lines };
}

export function renderLoop(p: LoopPiece, { id }: Ctx): Emit {
  const addr = `PLAY + ${hex(p.entry * 0x1000)} + ${hex(p.off)}`;
  const body =
    p.body === 'add'
      ? [ins('add eax, ebx')]
      : p.body === 'load-play'
        ? accessLines(false, 4, addr, 'edx', false)
        : p.body === 'store-play'
          ? accessLines(true, 4, addr, 'edx', false)
          : [ins('pushf'), ins('pop edx')];
  const lines = [ins(`mov ecx, ${p.count}`), label(`${id}_loop`), ...body, ins('dec ecx'), ins(`jnz ${id}_loop`)];
  return { title: `loop ×${p.count}: ${p.body}`, lines, extraSteps: (p.count - 1) * (body.length + 2) };
}

/**
 * F0–F3 start with `mov eax, N; ret`, so a successful fetch returns at once. A fetch that
 * faults pushes nothing more: the #PF handler resumes at `fetch_resume` with the return
 * address still on the stack, so the piece restores esp from ebp.
 */
export function renderFarCall(p: FarCallPiece, { id }: Ctx): Emit {
  const target = p.target.via === 'play' ? `PLAY + ${hex(p.target.entry * 0x1000)}` : `BIG + ${p.target.frame}`;
  return {
    title: `call code fetched through ${target}`,
    lines: [
      ins(`mov eax, ${id}_back`),
      ins('mov [fetch_resume], eax', 'where #PF resumes if the fetch faults'),
      ins('mov ebp, esp'),
      ins(`call ${target}`),
      label(`${id}_back`),
      ins('mov esp, ebp'),
    ],
  };
}
