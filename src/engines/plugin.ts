// Plugin engines (DESIGN §5, "a plugin"): a user's VMM as a module, named on the command
// line by its path (`--engine ./my-vmm.ts`). Its default export — or its `createEngine`
// export — is an `EngineFactory` of `popek/engine`; TypeScript is loaded through tsx's API,
// so a user needs no build step. A plugin is probed once when it is loaded: a bad plugin
// is the user's error, reported as one line naming the file (PluginError), never as a
// divergence of every generated guest.

import { existsSync, statSync } from 'node:fs';
import { extname, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { Engine, EngineEntry, EngineFactory, Image, MachineConfig, Observation } from './engine.ts';
import { isCommandEngine } from './remote.ts';
import { DEFAULT_TIMEOUT_MS, EngineHung, guarded } from './guard.ts';

/** What a plugin module may be: TypeScript or JavaScript, ES modules. */
export const PLUGIN_EXTENSIONS: readonly string[] = ['.ts', '.mts', '.js', '.mjs'];

/** A plugin the user named cannot be used; the message names the file and what is wrong. */
export class PluginError extends Error {}

/** An engine name that is a path: it has a directory part or a module extension. */
export function isPluginPath(name: string): boolean {
  // `cmd:node ./engine.js` names a process (remote.ts), not a module, whatever its slashes.
  if (isCommandEngine(name)) return false;
  return name.includes('/') || name.includes('\\') || PLUGIN_EXTENSIONS.includes(extname(name)) || extname(name) === '.cjs';
}

/** How reports name an engine: a plugin by its path from the working directory, which is shorter than its name. */
export function engineLabel(name: string): string {
  if (!isPluginPath(name)) return name;
  const rel = relative(process.cwd(), name);
  return rel.startsWith('..') || rel === '' ? name : `.${sep}${rel}`;
}

/** Loaded plugins by absolute path: the name they go by everywhere after loading. */
const loaded = new Map<string, EngineEntry>();

/**
 * What a plugin's engine offers beyond `Engine` — what a property may need (TestRIG's
 * declared features): `audit(): string[]`, the VMM's own invariants (DESIGN §6.13), each
 * violation one line, run by the `audit` property after every step.
 */
export interface PluginCapabilities {
  audit: boolean;
}
const capabilities = new Map<string, PluginCapabilities>();

/** The capabilities of a plugin loaded in this thread, or undefined for any other name. */
export function pluginCapabilities(name: string): PluginCapabilities | undefined {
  return capabilities.get(name);
}

/** The registry row of a plugin loaded in this thread, by the name `loadPlugin` returned. */
export function loadedPlugin(name: string): EngineEntry | undefined {
  return loaded.get(name);
}

/**
 * Load the plugin at `path` (relative to the working directory), probe it, and register
 * it under its absolute path, which is returned: that is the engine's name from then on
 * (replay files keep it, worker threads load it again by it).
 */
export async function loadPlugin(path: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  const file = resolve(path);
  if (loaded.has(file)) return file;
  if (!PLUGIN_EXTENSIONS.includes(extname(file))) throw new PluginError(`plugin '${path}': not a ${PLUGIN_EXTENSIONS.join(', ')} module`);
  if (!existsSync(file) || !statSync(file).isFile()) throw new PluginError(`plugin '${path}': no such file`);
  let module: Record<string, unknown>;
  try {
    module = (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    // A kit written outside a project that has popek as a dependency cannot resolve popek/hw.
    const hint = /Cannot find (module|package) 'popek/.test(firstLine(e))
      ? ' (popek must be a dependency of the project that holds the module: npm install --save-dev PATH-TO-POPEK, or keep the module inside your popek checkout)'
      : '';
    throw new PluginError(`plugin '${path}' failed to load: ${firstLine(e)}${hint}`);
  }
  const make = factoryOf(module);
  if (make === undefined)
    throw new PluginError(
      `plugin '${path}' exports no engine factory: export default (or export createEngine) a function (image, config) => Engine of popek/engine`,
    );
  let probed: string | PluginCapabilities;
  try {
    probed = guarded(() => probe(make), timeoutMs);
  } catch (e) {
    if (!(e instanceof EngineHung)) throw e;
    probed = `on a one-instruction guest (hlt), its ${e.message}`;
  }
  if (typeof probed === 'string') throw new PluginError(`plugin '${path}': ${probed}`);
  capabilities.set(file, probed);
  const bugs = module.bugs ?? (module.default as Record<string, unknown> | undefined)?.bugs;
  loaded.set(file, {
    make,
    expected: 'equivalent',
    summary: `a plugin engine (${file})`,
    bugs: isStringRecord(bugs) ? bugs : {},
  });
  return file;
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n').find((l) => l.trim() !== '') ?? text;
}

/**
 * The factory: the default export or `createEngine`. A .ts file outside an ES-module
 * package is compiled as CommonJS, whose exports object arrives as the default export.
 */
function factoryOf(module: Record<string, unknown>): EngineFactory | undefined {
  const cjs = (typeof module.default === 'object' && module.default !== null ? module.default : {}) as Record<string, unknown>;
  for (const candidate of [module.default, module.createEngine, cjs.default, cjs.createEngine])
    if (typeof candidate === 'function') return candidate as EngineFactory;
  return undefined;
}

function isStringRecord(x: unknown): x is Record<string, string> {
  return typeof x === 'object' && x !== null && Object.values(x).every((v) => typeof v === 'string');
}

/** `hlt` at 0 (DESIGN §3.3: opcode 0x02, 8 bytes), in one page of RAM. */
const PROBE_IMAGE: Image = { chunks: [{ addr: 0, bytes: new Uint8Array([0x02, 0, 0, 0, 0, 0, 0, 0]) }], entry: 0 };
const PROBE_CONFIG: MachineConfig = { ramBytes: 4096 };
const STEP_OUTCOMES = ['retired', 'delivered', 'halted', 'shutdown'];

/** Build the plugin's engine on a one-instruction guest and look at what it gives back: what is wrong, or what it offers. */
function probe(make: EngineFactory): string | PluginCapabilities {
  let engine: Engine;
  try {
    engine = make(PROBE_IMAGE, PROBE_CONFIG);
  } catch (e) {
    return `the factory threw on a one-page guest: ${firstLine(e)}`;
  }
  if (typeof engine !== 'object' || engine === null) return `the factory returned ${typeof engine}, not an Engine of popek/engine`;
  const missing = (['fire', 'step', 'run', 'observe', 'icount', 'status', 'counters'] as const).filter(
    (m) => typeof engine[m] !== 'function',
  );
  if (missing.length > 0) return `its engine has no method ${missing.join(', ')} (Engine of popek/engine)`;
  try {
    const first = observationProblem(engine.observe(), PROBE_CONFIG.ramBytes);
    if (first !== undefined) return `observe() returned a wrong observation: ${first} (Observation of popek/engine)`;
    const outcome = engine.step();
    if (!STEP_OUTCOMES.includes(outcome)) return `step() returned ${JSON.stringify(outcome)}, not one of ${STEP_OUTCOMES.join(', ')}`;
    const after = observationProblem(engine.observe(), PROBE_CONFIG.ramBytes);
    if (after !== undefined) return `observe() returned a wrong observation: ${after} (Observation of popek/engine)`;
  } catch (e) {
    return `its engine threw on a one-instruction guest (hlt): ${firstLine(e)}`;
  }
  return { audit: typeof (engine as Engine & { audit?: unknown }).audit === 'function' };
}

const u32 = (x: unknown): boolean => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;

/** What is wrong with `o` as an Observation of DESIGN §2 for a guest of `ramBytes`, or undefined. */
export function observationProblem(o: unknown, ramBytes: number): string | undefined {
  if (typeof o !== 'object' || o === null) return `${o === null ? 'null' : typeof o} instead of an object`;
  const x = o as Record<keyof Observation, unknown>;
  if (!['running', 'halted', 'shutdown'].includes(x.status as string))
    return `status ${JSON.stringify(x.status)} is not running, halted or shutdown`;
  for (const f of ['icount', 'eip', 'eflags', 'cpl', 'cr0', 'cr2', 'cr3', 'cr4', 'tr'] as const)
    if (!u32(x[f])) return `${f} ${JSON.stringify(x[f])} is not an unsigned 32-bit number`;
  const regs = x.regs as Record<string, unknown> | null;
  if (typeof regs !== 'object' || regs === null) return 'regs is not an object';
  for (const r of ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'])
    if (!u32(regs[r])) return `regs.${r} ${JSON.stringify(regs[r])} is not an unsigned 32-bit number`;
  const idtr = x.idtr as { base?: unknown; limit?: unknown } | null;
  if (typeof idtr !== 'object' || idtr === null || !u32(idtr.base) || !u32(idtr.limit)) return 'idtr is not {base, limit}';
  if (!(x.ram instanceof Uint8Array)) return 'ram is not a Uint8Array';
  if (x.ram.length !== ramBytes) return `ram has ${x.ram.length} bytes, the guest has ${ramBytes}`;
  if (typeof x.console !== 'string') return 'console is not a string';
  const device = x.device as { counter?: unknown; log?: unknown } | null;
  if (typeof device !== 'object' || device === null || !u32(device.counter) || !Array.isArray(device.log))
    return 'device is not {counter, log}';
  if (!Array.isArray(x.trace)) return 'trace is not an array';
  if (!Array.isArray(x.pending) || !x.pending.every(u32)) return 'pending is not an array of vectors';
  return undefined;
}
