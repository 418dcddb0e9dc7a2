// `popek serve --engine E [--bug B]...` (DESIGN §10): any engine popek can name, served
// over the JSON-lines engine protocol (docs/engine-protocol.md) on stdin/stdout, so that
// the protocol's client is tested across a real process boundary against engines whose
// verdicts are known, and so that another tool can drive popek's engines.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Engine, HostEvent, Image, MachineConfig } from '../engines/engine.ts';
import {
  decodeImage,
  encodeObservation,
  HOST_EVENT_KINDS,
  OBSERVATION_FIELDS,
  OPS,
  PROTOCOL_VERSION,
  ProtocolError,
  RamSender,
  type Capabilities,
  type Op,
} from '../engines/protocol.ts';
import { findEngine } from '../engines/registry.ts';
import { engineFactory, resolveEngine } from './engines.ts';
import { parseEvents } from './events-file.ts';
import { UsageError } from './usage.ts';

export const SERVE_HELP = `usage: popek serve --engine E [--bug B]...

Serve engine E over the JSON-lines engine protocol (docs/engine-protocol.md) on stdin and
stdout, until end of input or a 'bye' request. Another popek drives it with
  popek check --engine-cmd "popek serve --engine E"
  --engine E   the engine to serve (popek check --list-bugs, popek bench --help), or the path of a plugin module (./my-vmm.ts)
  --bug B      switch on a catalog bug of E in every guest loaded (repeatable)`;

/** A machine being served: the engine and what `reset` needs to rebuild it. */
interface Session {
  engine: Engine;
  image: Image;
  config: MachineConfig;
  ram: RamSender;
}

export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      engine: { type: 'string' },
      bug: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve: unexpected argument '${positionals[0]}'`);
  if (values.engine === undefined) throw new UsageError('serve: --engine E is required');
  // A plugin (`--engine ./my-vmm.ts`) is loaded and probed first, then served like any engine.
  const name = await resolveEngine(values.engine);
  const make = engineFactory(name);
  const known = findEngine(name)!.bugs;
  for (const b of values.bug)
    if (!Object.hasOwn(known, b)) throw new UsageError(`bug '${b}' is not a switch of ${name} (popek check --list-bugs)`);

  const server = new Server(
    name,
    (image, config) => make(image, { ...config, bugs: [...new Set([...values.bug, ...(config.bugs ?? [])])] }),
    known,
  );
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const answer = server.handle(line);
    process.stdout.write(JSON.stringify(answer) + '\n');
    if (server.done) break;
  }
  return 0;
}

const u32 = (x: unknown, what: string): number => {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffffffff)
    throw new ProtocolError(`${what}: expected an unsigned 32-bit integer`);
  return x;
};

/** The protocol's server side over one engine factory; one machine at a time. */
export class Server {
  private session: Session | undefined;
  done = false;
  private readonly capabilities: Capabilities = { step: true, events: [...HOST_EVENT_KINDS], fields: [...OBSERVATION_FIELDS] };

  constructor(
    private readonly name: string,
    private readonly make: (image: Image, config: MachineConfig) => Engine,
    private readonly bugs: Readonly<Record<string, string>>,
  ) {}

  /** One request line → one answer object (never throws). */
  handle(line: string): Record<string, unknown> {
    let req: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ProtocolError('a request is a JSON object');
      req = parsed as Record<string, unknown>;
    } catch (e) {
      return { id: null, ok: false, error: `not a request: ${(e as Error).message}` };
    }
    const id = req.id ?? null;
    try {
      return { id, ok: true, ...this.dispatch(req) };
    } catch (e) {
      return { id, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private machine(): Session {
    if (this.session === undefined) throw new ProtocolError('no guest loaded (send load first)');
    return this.session;
  }

  private dispatch(req: Record<string, unknown>): Record<string, unknown> {
    const op = req.op as Op;
    if (!OPS.includes(op)) throw new ProtocolError(`unknown op ${JSON.stringify(req.op)} (one of ${OPS.join(', ')})`);
    switch (op) {
      case 'hello':
        if (req.protocol !== PROTOCOL_VERSION)
          throw new ProtocolError(
            `protocol version ${JSON.stringify(req.protocol)} is not spoken here (this server speaks ${PROTOCOL_VERSION})`,
          );
        return { protocol: PROTOCOL_VERSION, engine: this.name, capabilities: this.capabilities };
      case 'load': {
        const image = decodeImage(req.image);
        const c = req.config as { ramBytes?: unknown; bugs?: unknown } | null;
        if (typeof c !== 'object' || c === null) throw new ProtocolError('load: config must be {ramBytes, bugs?}');
        const ramBytes = u32(c.ramBytes, 'config.ramBytes');
        if (ramBytes === 0 || ramBytes % 4096 !== 0)
          throw new ProtocolError(`config.ramBytes: ${ramBytes} is not a positive multiple of 4096`);
        const bugs = c.bugs ?? [];
        if (!Array.isArray(bugs) || !bugs.every((b) => typeof b === 'string' && Object.hasOwn(this.bugs, b)))
          throw new ProtocolError(`config.bugs: each must be a switch of ${this.name} (${Object.keys(this.bugs).join(', ') || 'none'})`);
        const config = { ramBytes, bugs: bugs as string[] };
        this.session = { engine: this.make(image, config), image, config, ram: new RamSender(ramBytes) };
        return {};
      }
      case 'reset': {
        const s = this.machine();
        this.session = { ...s, engine: this.make(s.image, s.config), ram: new RamSender(s.config.ramBytes) };
        return {};
      }
      case 'fire':
        this.machine().engine.fire(this.event(req.event));
        return {};
      case 'step': {
        const s = this.machine();
        const outcome = s.engine.step();
        return req.observe === true ? { outcome, observation: encodeObservation(s.engine.observe(), s.ram) } : { outcome };
      }
      case 'run': {
        const s = this.machine();
        if (!Array.isArray(req.events)) throw new ProtocolError('run: events must be an array');
        const events = req.events.map((e) => this.event(e));
        return { observation: encodeObservation(s.engine.run(events, u32(req.maxSteps, 'run: maxSteps')), s.ram) };
      }
      case 'observe': {
        const s = this.machine();
        return { observation: encodeObservation(s.engine.observe(), s.ram) };
      }
      case 'counters':
        return { counters: this.machine().engine.counters() };
      case 'bye':
        this.done = true;
        return {};
    }
  }

  private event(raw: unknown): HostEvent {
    try {
      return parseEvents([raw], 'event')[0]!;
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    }
  }
}
