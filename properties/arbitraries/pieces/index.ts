// The body's building blocks: one union of every piece, one arbitrary choosing among
// them, one render dispatch. Weights favour the pieces that reach DESIGN §7's hard cases
// (paging edits, user mode, interrupt-flag windows, memory through random mappings) and
// keep the fatal ones rare so most runs go on to the end of their body.

import fc from 'fast-check';
import { aluArb, renderAlu, type AluPiece } from './alu.ts';
import { isInsnLine, type Ctx, type Emit } from './common.ts';
import { deliveryArb, renderDelivery, type DeliveryPiece } from './delivery.ts';
import { mmioArb, portArb, renderMmio, renderPort, type MmioPiece, type PortPiece } from './devices.ts';
import { iflagArb, renderIflag, type IflagPiece } from './iflag.ts';
import { memArb, renderMem, type MemPiece } from './memory.ts';
import {
  cr3Arb,
  crToggleArb,
  invlpgArb,
  pdeEditArb,
  pteEditArb,
  renderCr3,
  renderCrToggle,
  renderInvlpg,
  renderPdeEdit,
  renderPteEdit,
  type Cr3Piece,
  type CrTogglePiece,
  type InvlpgPiece,
  type PdeEditPiece,
  type PteEditPiece,
} from './paging.ts';
import {
  callArb,
  farCallArb,
  loopArb,
  pushPopArb,
  renderCall,
  renderFarCall,
  renderLoop,
  renderPushPop,
  type CallPiece,
  type FarCallPiece,
  type LoopPiece,
  type PushPopPiece,
} from './stack.ts';
import {
  invalidArb,
  renderInvalid,
  renderSensitive,
  renderSoftInt,
  sensitiveArb,
  softIntArb,
  type InvalidPiece,
  type SensitivePiece,
  type SoftIntPiece,
} from './system.ts';
import { renderSmc, smcArb, type SmcPiece } from './smc.ts';
import { renderUser, userArb, type UserPiece } from './user.ts';

export type Piece =
  | AluPiece
  | MemPiece
  | PushPopPiece
  | CallPiece
  | LoopPiece
  | FarCallPiece
  | IflagPiece
  | PteEditPiece
  | PdeEditPiece
  | Cr3Piece
  | CrTogglePiece
  | InvlpgPiece
  | UserPiece
  | DeliveryPiece
  | MmioPiece
  | PortPiece
  | SensitivePiece
  | SoftIntPiece
  | InvalidPiece
  | SmcPiece;

export type PieceKind = Piece['kind'];

const w = (weight: number, arbitrary: fc.Arbitrary<Piece>) => ({ weight, arbitrary });

/** Listed simplest first: fast-check's oneof shrinks toward the first arbitrary. */
export const pieceArb: fc.Arbitrary<Piece> = fc.oneof(
  { depthSize: 'small' },
  w(6, aluArb),
  w(9, memArb),
  w(2, pushPopArb),
  w(2, callArb),
  w(2, loopArb),
  w(3, portArb),
  w(3, sensitiveArb),
  w(2, softIntArb),
  w(2, invalidArb),
  w(3, mmioArb),
  w(9, iflagArb),
  w(6, pteEditArb),
  w(2, pdeEditArb),
  w(3, cr3Arb),
  w(3, crToggleArb),
  w(2, invlpgArb),
  w(2, farCallArb),
  w(7, userArb),
  w(3, deliveryArb),
  w(2, smcArb),
);

export function renderPiece(p: Piece, ctx: Ctx): Emit {
  switch (p.kind) {
    case 'alu':
      return renderAlu(p, ctx);
    case 'mem':
      return renderMem(p, ctx);
    case 'push-pop':
      return renderPushPop(p, ctx);
    case 'call':
      return renderCall(p, ctx);
    case 'loop':
      return renderLoop(p, ctx);
    case 'far-call':
      return renderFarCall(p, ctx);
    case 'iflag':
      return renderIflag(p, ctx);
    case 'pte-edit':
      return renderPteEdit(p, ctx);
    case 'pde-edit':
      return renderPdeEdit(p, ctx);
    case 'cr3':
      return renderCr3(p, ctx);
    case 'cr-toggle':
      return renderCrToggle(p, ctx);
    case 'invlpg':
      return renderInvlpg(p, ctx);
    case 'user':
      return renderUser(p, ctx);
    case 'delivery':
      return renderDelivery(p, ctx);
    case 'mmio':
      return renderMmio(p, ctx);
    case 'port':
      return renderPort(p, ctx);
    case 'sensitive':
      return renderSensitive(p, ctx);
    case 'int':
      return renderSoftInt(p, ctx);
    case 'invalid':
      return renderInvalid(p, ctx);
    case 'smc':
      return renderSmc(p, ctx);
  }
}

/** Steps a piece takes when nothing faults: its instruction slots plus loop iterations. */
export const stepsOf = (e: Emit): number => e.lines.filter(isInsnLine).length + (e.extraSteps ?? 0);
