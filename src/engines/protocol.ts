// The JSON-lines engine protocol, version 1 (docs/engine-protocol.md; DESIGN §5 "a
// process"): the messages, the wire form of images and observations, and their checks.
// Shared by the client (remote.ts) and the server (`popek serve`, src/cli/serve.ts), so
// that both sides read one definition; a third-party engine reads the document instead.

import type { HostEvent, HostEventKind, Image, MachineConfig, Observation, StepOutcome } from './engine.ts';

export const PROTOCOL_VERSION = 1;

/** The observation's fields (DESIGN §2), as an engine declares which it provides. */
export const OBSERVATION_FIELDS = [
  'status',
  'icount',
  'regs',
  'eip',
  'eflags',
  'cpl',
  'cr0',
  'cr2',
  'cr3',
  'cr4',
  'idtr',
  'tr',
  'ram',
  'console',
  'device',
  'trace',
  'pending',
] as const;
export type ObservationField = (typeof OBSERVATION_FIELDS)[number];

export const HOST_EVENT_KINDS: readonly HostEventKind[] = [
  'irq',
  'swap-out',
  'migrate',
  'evict-shadow',
  'flush-tlb',
  'reclaim',
  'switch-vm',
];

/** What an engine declares in its answer to `hello`. */
export interface Capabilities {
  /** `true`: `step` works (lockstep, compared after every step); `false`: `run` only, compared at the end. */
  step: boolean;
  /** The host-event kinds it accepts; any other is refused before the run. */
  events: HostEventKind[];
  /** The observation fields it provides. A field not provided is never silently skipped. */
  fields: ObservationField[];
}

/** RAM travels in 4 KiB pages: the ones that changed since the server last sent them. */
export const PAGE_BYTES = 4096;

export interface WireImage {
  entry: number;
  chunks: { addr: number; data: string }[];
}

/** DESIGN §3.10.14's JSON observation, with `ram` as the pages that changed (base64). */
export type WireObservation = Partial<Omit<Observation, 'ram'>> & { ram?: { pages: [number, string][] } };

export type Request =
  | { id: number; op: 'hello'; protocol: number }
  | { id: number; op: 'load'; image: WireImage; config: MachineConfig }
  | { id: number; op: 'reset' }
  | { id: number; op: 'fire'; event: HostEvent }
  | { id: number; op: 'step'; observe?: boolean }
  | { id: number; op: 'run'; events: HostEvent[]; maxSteps: number }
  | { id: number; op: 'observe' }
  | { id: number; op: 'counters' }
  | { id: number; op: 'bye' };

export type Op = Request['op'];
export const OPS: readonly Op[] = ['hello', 'load', 'reset', 'fire', 'step', 'run', 'observe', 'counters', 'bye'];

export interface HelloAnswer {
  protocol: number;
  engine: string;
  capabilities: Capabilities;
}

export type Response = { id: number } & ({ ok: false; error: string } | ({ ok: true } & Record<string, unknown>));

export function encodeImage(image: Image): WireImage {
  return {
    entry: image.entry,
    chunks: image.chunks.map((c) => ({
      addr: c.addr,
      data: Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.length).toString('base64'),
    })),
  };
}

export function decodeImage(w: unknown): Image {
  const o = w as Partial<WireImage> | null;
  if (typeof o !== 'object' || o === null || !isU32(o.entry) || !Array.isArray(o.chunks))
    throw new ProtocolError('image: expected {entry, chunks: [{addr, data}]}');
  return {
    entry: o.entry,
    chunks: o.chunks.map((c: unknown, i) => {
      const chunk = c as Partial<WireImage['chunks'][number]> | null;
      if (typeof chunk !== 'object' || chunk === null || !isU32(chunk.addr) || typeof chunk.data !== 'string')
        throw new ProtocolError(`image.chunks[${i}]: expected {addr, data (base64)}`);
      return { addr: chunk.addr, bytes: new Uint8Array(Buffer.from(chunk.data, 'base64')) };
    }),
  };
}

/** A request or response that breaks the protocol: the message says what and where. */
export class ProtocolError extends Error {}

const isU32 = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;

/**
 * The server side of RAM transfer: remembers what it sent and sends only the pages that
 * differ since (after `load` or `reset`, the client's copy is all zero). One memcmp per
 * page, no allocation when nothing changed.
 */
export class RamSender {
  private sent: Buffer;
  constructor(ramBytes: number) {
    this.sent = Buffer.alloc(ramBytes);
  }
  pages(ram: Uint8Array): [number, string][] {
    if (ram.length !== this.sent.length) this.sent = Buffer.alloc(ram.length);
    const now = Buffer.from(ram.buffer, ram.byteOffset, ram.length);
    const out: [number, string][] = [];
    for (let a = 0; a < now.length; a += PAGE_BYTES) {
      const end = Math.min(a + PAGE_BYTES, now.length);
      if (now.compare(this.sent, a, end, a, end) !== 0) {
        now.copy(this.sent, a, a, end);
        out.push([a, now.toString('base64', a, end)]);
      }
    }
    return out;
  }
}

/** An observation on the wire; `ram` as the pages `sender` has not sent yet. */
export function encodeObservation(o: Observation, sender: RamSender): WireObservation {
  const { ram, ...rest } = o;
  return { ...rest, ram: { pages: sender.pages(ram) } };
}

const STATUSES = ['running', 'halted', 'shutdown'];
const OUTCOMES: readonly StepOutcome[] = ['retired', 'delivered', 'halted', 'shutdown'];

export function checkOutcome(x: unknown): StepOutcome {
  if (!OUTCOMES.includes(x as StepOutcome))
    throw new ProtocolError(`step: outcome ${JSON.stringify(x)} is not one of ${OUTCOMES.join(', ')}`);
  return x as StepOutcome;
}

/**
 * Check the fields a wire observation holds against DESIGN §2 and §3.10.14 and merge them
 * into `into` (RAM pages applied in place). Returns the fields it held.
 */
export function decodeObservation(w: unknown, into: Observation): Set<ObservationField> {
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new ProtocolError('observation: expected a JSON object');
  const o = w as Record<string, unknown>;
  const seen = new Set<ObservationField>();
  const bad = (f: string, want: string) =>
    new ProtocolError(`observation.${f}: expected ${want}, got ${JSON.stringify(o[f])?.slice(0, 80)}`);
  const u32 = (f: string, v: unknown = o[f]): number => {
    if (!isU32(v)) throw bad(f, 'an unsigned 32-bit integer');
    return v;
  };
  for (const key of Object.keys(o)) {
    if (!(OBSERVATION_FIELDS as readonly string[]).includes(key)) throw new ProtocolError(`observation: unknown field '${key}'`);
    const f = key as ObservationField;
    seen.add(f);
    switch (f) {
      case 'status':
        if (!STATUSES.includes(o.status as string)) throw bad(f, STATUSES.join(' | '));
        into.status = o.status as Observation['status'];
        break;
      case 'icount':
      case 'eip':
      case 'eflags':
      case 'cpl':
      case 'cr0':
      case 'cr2':
      case 'cr3':
      case 'cr4':
      case 'tr':
        into[f] = u32(f);
        break;
      case 'regs': {
        const r = o.regs as Record<string, unknown> | null;
        if (typeof r !== 'object' || r === null) throw bad(f, '{eax, ecx, edx, ebx, esp, ebp, esi, edi}');
        for (const name of Object.keys(into.regs) as (keyof Observation['regs'])[]) into.regs[name] = u32(`regs.${name}`, r[name]);
        break;
      }
      case 'idtr': {
        const r = o.idtr as { base?: unknown; limit?: unknown } | null;
        if (typeof r !== 'object' || r === null) throw bad(f, '{base, limit}');
        into.idtr = { base: u32('idtr.base', r.base), limit: u32('idtr.limit', r.limit) };
        break;
      }
      case 'console':
        if (typeof o.console !== 'string' || [...o.console].some((ch) => ch.charCodeAt(0) > 0xff))
          throw bad(f, 'a string of code points 0–255');
        into.console = o.console;
        break;
      case 'device': {
        const d = o.device as { counter?: unknown; log?: unknown } | null;
        if (typeof d !== 'object' || d === null || !Array.isArray(d.log)) throw bad(f, '{counter, log: [...]}');
        into.device = { counter: u32('device.counter', d.counter), log: d.log.map((v, i) => u32(`device.log[${i}]`, v)) };
        break;
      }
      case 'pending':
        if (!Array.isArray(o.pending)) throw bad(f, 'an array of vectors');
        into.pending = o.pending.map((v, i) => u32(`pending[${i}]`, v));
        break;
      case 'trace':
        if (!Array.isArray(o.trace)) throw bad(f, 'an array of trace entries');
        into.trace = o.trace.map((e, i) => traceEntry(e, i));
        break;
      case 'ram': {
        const pages = (o.ram as { pages?: unknown } | null)?.pages;
        if (!Array.isArray(pages)) throw bad(f, '{pages: [[addr, base64], ...]}');
        for (const p of pages) {
          if (!Array.isArray(p) || !isU32(p[0]) || p[0] % PAGE_BYTES !== 0 || typeof p[1] !== 'string')
            throw bad(f, 'pages as [addr, base64]');
          const bytes = Buffer.from(p[1], 'base64');
          if (p[0] + bytes.length > into.ram.length || bytes.length > PAGE_BYTES)
            throw new ProtocolError(`observation.ram: page at 0x${p[0].toString(16)} (${bytes.length} bytes) outside guest RAM`);
          into.ram.set(bytes, p[0]);
        }
        break;
      }
    }
  }
  return seen;
}

function traceEntry(e: unknown, i: number): Observation['trace'][number] {
  const t = e as Record<string, unknown> | null;
  const where = `observation.trace[${i}]`;
  if (typeof t !== 'object' || t === null || !isU32(t.icount)) throw new ProtocolError(`${where}: expected {icount, kind, ...}`);
  if (t.kind === 'shutdown') {
    if (t.chain === undefined) return { icount: t.icount, kind: 'shutdown' };
    if (!Array.isArray(t.chain) || !t.chain.every((v) => isU32(v) && v < 256))
      throw new ProtocolError(`${where}.chain: expected a list of vectors 0–255`);
    return { icount: t.icount, kind: 'shutdown', chain: t.chain as number[] };
  }
  if (t.kind !== 'exception' && t.kind !== 'interrupt' && t.kind !== 'software')
    throw new ProtocolError(`${where}.kind: ${JSON.stringify(t.kind)} is not exception, interrupt, software or shutdown`);
  if (!isU32(t.vector) || !isU32(t.eip)) throw new ProtocolError(`${where}: vector and eip must be unsigned 32-bit integers`);
  const entry: Observation['trace'][number] = { icount: t.icount, kind: t.kind, vector: t.vector, eip: t.eip };
  if (t.errorCode !== undefined) {
    if (!isU32(t.errorCode)) throw new ProtocolError(`${where}.errorCode: not an unsigned 32-bit integer`);
    entry.errorCode = t.errorCode;
  }
  if (t.cr2 !== undefined) {
    if (!isU32(t.cr2)) throw new ProtocolError(`${where}.cr2: not an unsigned 32-bit integer`);
    entry.cr2 = t.cr2;
  }
  return entry;
}

/** The answer to `hello`, checked: a wrong version or a malformed capability list is refused. */
export function checkHello(r: Record<string, unknown>): HelloAnswer {
  if (r.protocol !== PROTOCOL_VERSION)
    throw new ProtocolError(`protocol version mismatch: popek speaks ${PROTOCOL_VERSION}, the engine ${JSON.stringify(r.protocol)}`);
  if (typeof r.engine !== 'string') throw new ProtocolError('hello: the answer names no engine');
  const c = r.capabilities as Partial<Capabilities> | null | undefined;
  if (typeof c !== 'object' || c === null || typeof c.step !== 'boolean' || !Array.isArray(c.events) || !Array.isArray(c.fields))
    throw new ProtocolError('hello: capabilities must be {step: boolean, events: [...], fields: [...]}');
  for (const k of c.events) if (!HOST_EVENT_KINDS.includes(k)) throw new ProtocolError(`hello: unknown event kind '${String(k)}'`);
  for (const f of c.fields) if (!OBSERVATION_FIELDS.includes(f)) throw new ProtocolError(`hello: unknown observation field '${String(f)}'`);
  return { protocol: r.protocol, engine: r.engine, capabilities: { step: c.step, events: [...c.events], fields: [...c.fields] } };
}
