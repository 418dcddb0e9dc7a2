import { expect, test } from 'vitest';
import type { Engine, EngineFactory, Observation } from 'popek/engine';
import { ENGINES } from '../../src/engines/registry.ts';

test('popek/engine resolves by its package name and types the registry', () => {
  const make: EngineFactory = ENGINES.native!.make;
  const e: Engine = make({ chunks: [{ addr: 0, bytes: new Uint8Array([0x02, 0, 0, 0, 0, 0, 0, 0]) }], entry: 0 }, { ramBytes: 4096 });
  const o: Observation = e.run([], 10);
  expect(o.status).toBe('halted');
});
