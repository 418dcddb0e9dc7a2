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
import { aliasEditArb, modeArb, renderAliasEdit, renderMode, type AliasEditPiece, type ModePiece } from './modes.ts';
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
  | ModePiece
  | AliasEditPiece
  | UserPiece
  | DeliveryPiece
  | MmioPiece
  | PortPiece
  | SensitivePiece
  | SoftIntPiece
  | InvalidPiece
  | SmcPiece;

export type PieceKind = Piece['kind'];

/** Each kind's arbitrary, listed simplest first: fast-check's oneof shrinks toward the first. */
export const PIECE_ARBS: readonly (readonly [PieceKind, fc.Arbitrary<Piece>])[] = [
  ['alu', aluArb],
  ['mem', memArb],
  ['push-pop', pushPopArb],
  ['call', callArb],
  ['loop', loopArb],
  ['port', portArb],
  ['sensitive', sensitiveArb],
  ['int', softIntArb],
  ['invalid', invalidArb],
  ['mmio', mmioArb],
  ['iflag', iflagArb],
  ['pte-edit', pteEditArb],
  ['pde-edit', pdeEditArb],
  ['cr3', cr3Arb],
  ['cr-toggle', crToggleArb],
  ['invlpg', invlpgArb],
  ['mode', modeArb],
  ['alias-edit', aliasEditArb],
  ['far-call', farCallArb],
  ['user', userArb],
  ['delivery', deliveryArb],
  ['smc', smcArb],
];

export type PieceWeights = Partial<Record<PieceKind, number>>;

/** The default mix: favours the pieces that reach DESIGN §7's hard cases. */
export const DEFAULT_WEIGHTS: PieceWeights = {
  alu: 6,
  mem: 9,
  'push-pop': 2,
  call: 2,
  loop: 2,
  port: 3,
  sensitive: 3,
  int: 2,
  invalid: 2,
  mmio: 3,
  iflag: 9,
  'pte-edit': 6,
  'pde-edit': 2,
  cr3: 3,
  'cr-toggle': 3,
  invlpg: 2,
  mode: 3,
  'alias-edit': 4,
  'far-call': 2,
  user: 7,
  delivery: 4,
  smc: 2,
};

/** A piece drawn with the given weights (kinds without a weight, or weight 0, never occur). */
export function piecesOf(weights: PieceWeights): fc.Arbitrary<Piece> {
  const arbs = PIECE_ARBS.filter(([k]) => (weights[k] ?? 0) > 0).map(([k, arbitrary]) => ({ weight: weights[k]!, arbitrary }));
  return fc.oneof({ depthSize: 'small' }, ...arbs);
}

export const pieceArb: fc.Arbitrary<Piece> = piecesOf(DEFAULT_WEIGHTS);

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
    case 'mode':
      return renderMode(p, ctx);
    case 'alias-edit':
      return renderAliasEdit(p, ctx);
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
