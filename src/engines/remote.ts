// An engine in another process (DESIGN §5 "a process"; docs/engine-protocol.md): any
// program that speaks the JSON-lines protocol on its stdin/stdout. The Engine interface
// is synchronous, pipes are not: a thread (remote-pipe.mjs) owns the process and its
// pipes, and each request here blocks on Atomics.wait until the answer, the process's
// death or the request's timeout. A process that dies, writes garbage or hangs makes the
// request throw an Error naming what happened, with the tail of the process's stderr; the
// differ reports it as a finding and the next run starts a fresh process.
//
// One process per command and thread serves run after run (`load` resets it), so a
// campaign pays for a process start once per worker thread, not once per case.

import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Engine, EngineFactory, HostEvent, Image, MachineConfig, Observation, StepOutcome } from './engine.ts';
import {
  checkHello,
  checkOutcome,
  decodeObservation,
  encodeImage,
  OBSERVATION_FIELDS,
  PROTOCOL_VERSION,
  ProtocolError,
  type HelloAnswer,
  type Request,
} from './protocol.ts';

/** An engine name that means "this command, over the protocol" (how worker threads are told). */
export const COMMAND_PREFIX = 'cmd:';
export const isCommandEngine = (name: string): boolean => name.startsWith(COMMAND_PREFIX);

export interface Timeouts {
  /** Starting the process and its `hello` (a TypeScript engine may take seconds to load). */
  helloMs: number;
  /** `load`, `step`, `observe`, `fire`, `counters`, `reset`. */
  requestMs: number;
  /** `run`: a whole guest. */
  runMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { helloMs: 60_000, requestMs: 10_000, runMs: 120_000 };

/** Split a command line into argv: whitespace separates, '...' and "..." quote, \ escapes. No shell. */
export function splitCommand(command: string): string[] {
  const argv: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i]!;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < command.length) word += command[++i]!;
      else word += ch;
    } else if (/\s/.test(ch)) {
      if (word !== undefined) argv.push(word);
      word = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (ch === '\\' && i + 1 < command.length) word = (word ?? '') + command[++i]!;
    else word = (word ?? '') + ch;
  }
  if (quote !== undefined) throw new RangeError(`engine command: unterminated ${quote} quote in '${command}'`);
  if (word !== undefined) argv.push(word);
  if (argv.length === 0) throw new RangeError('engine command: empty');
  return argv;
}

const STDERR_TAIL_BYTES = 2048;

type PipeMessage = { kind: 'line'; line: string } | { kind: 'exit'; why: string };

/** One engine process and the thread that talks to it. */
class Connection {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** [0]: a message is waiting; [1]: bytes of stderr tail. */
  private readonly flag: Int32Array;
  private readonly stderrBytes: Uint8Array;
  private seq = 0;
  /** Why this process can no longer be used; set once. */
  dead: string | undefined;
  hello!: HelloAnswer;
  /** The engine whose guest is loaded in the process now. */
  owner: RemoteEngine | undefined;

  constructor(
    readonly command: string,
    readonly timeouts: Timeouts,
  ) {
    const argv = splitCommand(command);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.flag = new Int32Array(new SharedArrayBuffer(8));
    this.stderrBytes = new Uint8Array(new SharedArrayBuffer(STDERR_TAIL_BYTES));
    this.worker = new Worker(new URL('./remote-pipe.mjs', import.meta.url), {
      workerData: { argv, port: port2, flag: this.flag, stderr: this.stderrBytes },
      transferList: [port2],
    });
    // Neither the thread nor the process keeps popek alive: at exit the pipes close and
    // an engine that follows the protocol ends on end of input.
    this.worker.unref();
    this.port.unref();
    const r = this.call({ op: 'hello', protocol: PROTOCOL_VERSION }, timeouts.helloMs);
    try {
      this.hello = checkHello(r);
    } catch (e) {
      throw this.fail((e as Error).message);
    }
  }

  /** The last lines the process wrote on stderr. */
  stderrTail(): string {
    const n = Atomics.load(this.flag, 1);
    const text = Buffer.from(this.stderrBytes.subarray(0, n)).toString('utf8').trimEnd();
    return text.length === 0 ? '(nothing on stderr)' : `stderr: ${text.split('\n').slice(-12).join('\n')}`;
  }

  /** Give up on the process: kill it and make every later call fail with the same message. */
  fail(why: string): Error {
    if (this.dead === undefined) {
      this.dead = `engine process '${this.command}' ${why}\n${this.stderrTail()}`;
      this.port.postMessage({ kind: 'kill' });
    }
    return new Error(this.dead);
  }

  /** One request, one answer: blocks until it, the process's exit, or the timeout. */
  call(req: DistributiveOmit<Request, 'id'>, timeoutMs = this.timeouts.requestMs): Record<string, unknown> {
    if (this.dead !== undefined) throw new Error(this.dead);
    const id = ++this.seq;
    this.port.postMessage({ kind: 'send', line: JSON.stringify({ id, ...req }) });
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let m = receiveMessageOnPort(this.port)?.message as PipeMessage | undefined;
      if (m === undefined) {
        Atomics.store(this.flag, 0, 0);
        m = receiveMessageOnPort(this.port)?.message as PipeMessage | undefined;
      }
      if (m === undefined) {
        const left = deadline - performance.now();
        if (left <= 0 || Atomics.wait(this.flag, 0, 0, left) === 'timed-out')
          throw this.fail(`did not answer '${req.op}' within ${timeoutMs} ms (killed)`);
        continue;
      }
      if (m.kind === 'exit') throw this.fail(`${m.why} while popek waited for its answer to '${req.op}'`);
      let r: unknown;
      try {
        r = JSON.parse(m.line);
      } catch {
        throw this.fail(`wrote a line that is not JSON in answer to '${req.op}': '${m.line.slice(0, 200)}'`);
      }
      const o = r as { id?: unknown; ok?: unknown; error?: unknown } | null;
      if (typeof o !== 'object' || o === null || typeof o.ok !== 'boolean')
        throw this.fail(`wrote a line that is not a protocol answer ({id, ok, ...}) to '${req.op}': '${m.line.slice(0, 200)}'`);
      if (o.id !== id) throw this.fail(`answered request ${JSON.stringify(o.id)} while popek waited for request ${id} ('${req.op}')`);
      if (!o.ok) throw new Error(`engine process '${this.command}' refused '${req.op}': ${String(o.error)}`);
      return o;
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Per thread: the live process of each command, reused run after run. */
const connections = new Map<string, Connection>();

function connect(command: string, timeouts: Timeouts): Connection {
  const c = connections.get(command);
  if (c !== undefined && c.dead === undefined) return c;
  connections.delete(command);
  const fresh = new Connection(command, timeouts);
  connections.set(command, fresh);
  return fresh;
}

/** What the engine behind `command` declares (starts the process if it is not running). */
export function remoteCapabilities(command: string, timeouts = DEFAULT_TIMEOUTS): HelloAnswer {
  return connect(command, timeouts).hello;
}

/** The fields an engine does not provide: comparison is strict, so it cannot be checked. */
export function missingFields(hello: HelloAnswer): string[] {
  return OBSERVATION_FIELDS.filter((f) => !hello.capabilities.fields.includes(f));
}

const blankObservation = (ramBytes: number): Observation => ({
  status: 'running',
  icount: 0,
  regs: { eax: 0, ecx: 0, edx: 0, ebx: 0, esp: 0, ebp: 0, esi: 0, edi: 0 },
  eip: 0,
  eflags: 0,
  cpl: 0,
  cr0: 0,
  cr2: 0,
  cr3: 0,
  cr4: 0,
  idtr: { base: 0, limit: 0 },
  tr: 0,
  ram: new Uint8Array(ramBytes),
  console: '',
  device: { counter: 0, log: [] },
  trace: [],
  pending: [],
});

export class RemoteEngine implements Engine {
  readonly name: string;
  private readonly obs: Observation;
  /** The cached observation is the engine's current one. */
  private fresh = false;

  constructor(
    private readonly conn: Connection,
    image: Image,
    config: MachineConfig,
  ) {
    this.name = `${COMMAND_PREFIX}${conn.command}`;
    const missing = missingFields(conn.hello);
    if (missing.length > 0)
      throw new Error(
        `engine process '${conn.command}' does not provide ${missing.join(', ')}: comparison is strict (DESIGN §2), so it cannot be checked`,
      );
    this.obs = blankObservation(config.ramBytes);
    conn.owner = this;
    conn.call({ op: 'load', image: encodeImage(image), config: { ramBytes: config.ramBytes, bugs: [...(config.bugs ?? [])] } });
  }

  private live(): Connection {
    if (this.conn.owner !== this) throw new Error(`engine process '${this.conn.command}': this run's guest was replaced by a later load`);
    return this.conn;
  }

  private take(r: Record<string, unknown>, op: string): void {
    let seen;
    try {
      seen = decodeObservation(r.observation, this.obs);
    } catch (e) {
      throw this.conn.fail(`sent a malformed observation in answer to '${op}': ${(e as Error).message}`);
    }
    const absent = this.conn.hello.capabilities.fields.filter((f) => !seen.has(f));
    if (absent.length > 0) throw this.conn.fail(`left out ${absent.join(', ')} from its observation in answer to '${op}'`);
    this.fresh = true;
  }

  fire(event: HostEvent): void {
    const conn = this.live();
    if (!conn.hello.capabilities.events.includes(event.kind))
      throw new Error(
        `engine process '${conn.command}' does not accept '${event.kind}' events (it declared: ${conn.hello.capabilities.events.join(', ')})`,
      );
    this.fresh = false;
    conn.call({ op: 'fire', event });
  }

  step(): StepOutcome {
    const conn = this.live();
    if (!conn.hello.capabilities.step) throw new Error(`engine process '${conn.command}' cannot step (it compares at the end state only)`);
    this.fresh = false;
    const r = conn.call({ op: 'step', observe: true });
    let outcome: StepOutcome;
    try {
      outcome = checkOutcome(r.outcome);
    } catch (e) {
      throw conn.fail((e as ProtocolError).message);
    }
    if (r.observation !== undefined) this.take(r, 'step');
    return outcome;
  }

  run(events: readonly HostEvent[], maxSteps: number): Observation {
    const conn = this.live();
    for (const e of events)
      if (!conn.hello.capabilities.events.includes(e.kind))
        throw new Error(`engine process '${conn.command}' does not accept '${e.kind}' events`);
    this.fresh = false;
    this.take(conn.call({ op: 'run', events: [...events], maxSteps }, conn.timeouts.runMs), 'run');
    return this.observe();
  }

  observe(): Observation {
    if (!this.fresh) this.take(this.live().call({ op: 'observe' }), 'observe');
    return { ...this.obs };
  }

  icount(): number {
    return this.observe().icount;
  }

  status(): Observation['status'] {
    return this.observe().status;
  }

  counters(): Record<string, number> {
    const c = this.live().call({ op: 'counters' }).counters;
    if (typeof c !== 'object' || c === null) throw this.conn.fail("answered 'counters' without a counters object");
    return Object.fromEntries(Object.entries(c).filter((e): e is [string, number] => typeof e[1] === 'number'));
  }
}

/** The factory of the engine named `cmd:COMMAND`. */
export function remoteFactory(name: string, timeouts = DEFAULT_TIMEOUTS): EngineFactory {
  const command = name.slice(COMMAND_PREFIX.length);
  return (image, config) => new RemoteEngine(connect(command, timeouts), image, config);
}
