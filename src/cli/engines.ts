// The registry as the command line uses it: an engine is a name of the registry or the
// path of a plugin module (DESIGN §5, §10). An unknown engine, a plugin that cannot be
// used, or an image that does not fit is the user's error (one `popek:` line, exit 2).

import type { Engine, EngineFactory, Image, MachineConfig } from '../engines/engine.ts';
import { PluginError, isPluginPath, loadPlugin } from '../engines/plugin.ts';
import { ENGINE_NAMES, findEngine } from '../engines/registry.ts';
import { COMMAND_PREFIX, isCommandEngine, missingFields, remoteCapabilities } from '../engines/remote.ts';
import { EngineHung, guarded } from '../engines/guard.ts';
import { EngineCrash, UsageError } from './usage.ts';

/**
 * The name an engine goes by: a registered name as it is, a plugin loaded and probed and
 * named by its absolute path. Call this first; `engineFactory` and `makeEngine` then know it.
 */
export async function resolveEngine(name: string, timeoutMs?: number): Promise<string> {
  if (isCommandEngine(name)) engineFactory(name); // starts the process and shakes hands
  if (findEngine(name)) return name;
  if (!isPluginPath(name))
    throw new UsageError(`unknown engine '${name}' (one of ${ENGINE_NAMES.join(', ')}, or the path of a plugin module: ./my-vmm.ts)`);
  try {
    return await loadPlugin(name, timeoutMs);
  } catch (e) {
    if (e instanceof PluginError) throw new UsageError(e.message);
    throw e;
  }
}

/** Whether `name` (as resolveEngine returned it) is a plugin, which runs guarded (src/engines/guard.ts). */
export const isPlugin = (name: string): boolean => isPluginPath(name);

export function engineFactory(name: string): EngineFactory {
  if (isCommandEngine(name)) checkCommandEngine(name.slice(COMMAND_PREFIX.length));
  const entry = findEngine(name);
  if (!entry)
    throw new UsageError(`unknown engine '${name}' (one of ${ENGINE_NAMES.join(', ')}, or the path of a plugin module: ./my-vmm.ts)`);
  return entry.make;
}

/** Build an engine; an image that does not fit the configured RAM is the user's error. */
export function makeEngine(name: string, image: Image, config: MachineConfig): Engine {
  const factory = engineFactory(name);
  try {
    return factory(image, config);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

/** `--engine-cmd CMD`: the engine name that worker threads resolve (remote.ts). */
export const commandEngine = (command: string): string => COMMAND_PREFIX + command;

/**
 * Start the process and shake hands before any work: a command that does not start,
 * does not speak the protocol's version or leaves out a field is the user's error.
 */
function checkCommandEngine(command: string): void {
  let missing: string[];
  try {
    missing = missingFields(remoteCapabilities(command));
  } catch (e) {
    throw new UsageError(`--engine-cmd: ${(e as Error).message}`);
  }
  if (missing.length > 0)
    throw new UsageError(
      `--engine-cmd '${command}' does not provide ${missing.join(', ')}: comparison is strict (DESIGN §2), so it cannot be checked`,
    );
}

/** A plugin's run, stopped after `timeoutMs`: a hang is one `popek:` line, exit 1 (a finding about the engine, DESIGN §10). */
export function guardedRun<T>(run: () => T, timeoutMs: number): T {
  try {
    return guarded(run, timeoutMs);
  } catch (e) {
    if (e instanceof EngineHung) throw new EngineCrash(e.message);
    throw e;
  }
}

/**
 * Work a command does with an engine outside a guarded run (bench, explain): for a plugin,
 * a throw is "engine crashed: …" and, given `timeoutMs`, a hang is stopped — findings
 * about the plugin, one `popek:` line and exit 1 (DESIGN §10), never popek's crash.
 */
export function pluginWork<T>(name: string, work: () => T, timeoutMs?: number): T {
  if (!isPlugin(name)) return work();
  try {
    return timeoutMs === undefined ? work() : guardedRun(work, timeoutMs);
  } catch (e) {
    if (e instanceof EngineCrash || e instanceof UsageError) throw e;
    throw new EngineCrash(`engine crashed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
