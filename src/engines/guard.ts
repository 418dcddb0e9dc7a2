// A guard around a plugin engine (DESIGN §5, §10), used when it is probed (plugin.ts) and
// by every command that runs it: a user's engine that throws is a divergence the lockstep
// differ reports; one that never returns must be stopped from outside its thread. node:vm's `timeout` does exactly that: a watchdog thread terminates
// the running script — with every function it called, the engine's endless loop included
// — and its termination cannot be caught by the engine's own try/catch. A hung case then
// fails with "engine did not return within N ms", a failure fast-check shrinks like any
// other, so the counterexample is saved even then; the next case runs normally.

import vm from 'node:vm';

/** Long enough for any generated case on a slow engine; a hang is still found in seconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export const hungMessage = (timeoutMs: number): string => `engine did not return within ${timeoutMs} ms`;

/** What `guarded` throws when the call did not return in time. */
export class EngineHung extends Error {}

let calls = 0;

/** `run()`, stopped after `timeoutMs` with an EngineHung. Synchronous code only (the engine API is). */
export function guarded<T>(run: () => T, timeoutMs: number): T {
  // The script reaches the function through a global of its own (runInThisContext sees no locals).
  const slot = `__popekGuarded${calls++}`;
  const global = globalThis as Record<string, unknown>;
  global[slot] = run;
  try {
    return vm.runInThisContext(`globalThis.${slot}()`, { timeout: timeoutMs }) as T;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new EngineHung(hungMessage(timeoutMs));
    throw e;
  } finally {
    delete global[slot];
  }
}
