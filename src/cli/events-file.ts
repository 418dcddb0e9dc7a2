// The events file (DESIGN §10): a JSON array of `{at, kind, ...}`. Validated field by
// field so that a malformed file is a one-line usage error, never a crash later.

import { readFileSync } from 'node:fs';
import type { HostEvent, HostEventKind } from '../../spec/observation.ts';
import { UsageError } from './usage.ts';

type Fields = Record<string, 'u32' | 'count' | 'vector'>;

/** The extra fields of each kind (DESIGN §3.8). */
const KINDS: Record<HostEventKind, Fields> = {
  irq: { vector: 'vector' },
  'swap-out': { gpa: 'u32' },
  migrate: { gpa: 'u32' },
  'evict-shadow': { count: 'count' },
  'flush-tlb': {},
  reclaim: { frames: 'count' },
  'switch-vm': {},
};

export function readEventsFile(path: string): HostEvent[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read events file '${path}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path}: not JSON: ${(e as Error).message}`);
  }
  return parseEvents(json, path);
}

export function parseEvents(json: unknown, where: string): HostEvent[] {
  if (!Array.isArray(json)) throw new UsageError(`${where}: expected a JSON array of events`);
  return json.map((raw, i) => parseEvent(raw, `${where}: event ${i}`));
}

function parseEvent(raw: unknown, where: string): HostEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${where}: expected an object`);
  const o = raw as Record<string, unknown>;
  const kind = o.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(KINDS, kind)) {
    throw new UsageError(`${where}: unknown kind ${JSON.stringify(kind)} (one of ${Object.keys(KINDS).join(', ')})`);
  }
  const fields = KINDS[kind as HostEventKind];
  const allowed = new Set(['at', 'kind', ...Object.keys(fields)]);
  for (const key of Object.keys(o)) {
    if (!allowed.has(key)) throw new UsageError(`${where}: unexpected field '${key}' for kind '${kind}'`);
  }
  const event: Record<string, unknown> = { at: checkNumber(o.at, 'count', `${where}: at`), kind };
  for (const [name, type] of Object.entries(fields)) event[name] = checkNumber(o[name], type, `${where}: ${name}`);
  return event as HostEvent;
}

function checkNumber(v: unknown, type: 'u32' | 'count' | 'vector', where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new UsageError(`${where}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  if (type === 'u32' && v > 0xffffffff) throw new UsageError(`${where}: ${v} does not fit in 32 bits`);
  // DESIGN §3.1: external vectors are 32–255.
  if (type === 'vector' && (v < 32 || v > 255)) throw new UsageError(`${where}: external interrupt vectors are 32-255, not ${v}`);
  return v;
}

/** A `swap-out` or `migrate` of a gpa outside guest RAM names nothing: an error at load, not a crash mid-run. */
export function checkEventsFit(events: readonly HostEvent[], ramBytes: number, where: string): void {
  events.forEach((e, i) => {
    if ((e.kind === 'swap-out' || e.kind === 'migrate') && e.gpa >= ramBytes)
      throw new UsageError(
        `${where}: event ${i}: gpa 0x${e.gpa.toString(16)} is outside guest RAM (0 to 0x${(ramBytes - 1).toString(16)})`,
      );
  });
}
