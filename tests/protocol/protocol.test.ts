// The engine protocol's client (src/engines/remote.ts, docs/engine-protocol.md) against a
// stand-in engine process that misbehaves on purpose (fake-engine.mjs): the handshake,
// a version mismatch, a field left out, and each way a process can fail — it dies, writes
// garbage, hangs, answers the wrong request, sends a malformed observation. Every failure
// must be an Error that says what happened with the tail of the engine's stderr, never a
// hang of popek; the next run must get a fresh process.

import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { lockstep } from '../../properties/lockstep/lockstep.ts';
import type { Image } from '../../src/engines/engine.ts';
import { ProtocolError, RamSender, decodeObservation, encodeImage, decodeImage } from '../../src/engines/protocol.ts';
import { remoteFactory, splitCommand, type Timeouts } from '../../src/engines/remote.ts';

const FAKE = fileURLToPath(new URL('./fake-engine.mjs', import.meta.url));
const TIMEOUTS: Timeouts = { helloMs: 20_000, requestMs: 400, runMs: 2_000 };
const fake = (mode: string) => remoteFactory(`cmd:node ${FAKE} ${mode}`, TIMEOUTS);

// `nop; nop; hlt` at 0 (DESIGN §3.3: op 01 and 02, all other bytes 0).
const IMAGE: Image = {
  entry: 0,
  chunks: [{ addr: 0, bytes: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]) }],
};
const CONFIG = { ramBytes: 8192 };

describe('handshake', () => {
  test('a conforming engine is loaded, stepped and observed; RAM arrives in pages', () => {
    const e = fake('ok')(IMAGE, CONFIG);
    expect(e.step()).toBe('retired');
    const o = e.observe();
    expect([o.eip, o.icount, o.status]).toEqual([8, 1, 'running']);
    expect([...o.ram.subarray(0, 17)]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(o.ram.length).toBe(8192);
    expect(e.counters()).toEqual({ steps: 1 });
  });

  test('an engine that answers with another protocol version is refused, naming both versions', () => {
    expect(() => fake('version')(IMAGE, CONFIG)).toThrow(/protocol version mismatch: popek speaks 1, the engine 2/);
  });

  test("an engine that refuses popek's version says so", () => {
    expect(() => fake('refuse')(IMAGE, CONFIG)).toThrow(/refused 'hello': protocol 1 is not spoken here/);
  });

  test('comparison is strict: an engine that does not provide a field cannot be checked, and the fields are named', () => {
    expect(() => fake('missing')(IMAGE, CONFIG)).toThrow(/does not provide ram, device: comparison is strict/);
  });

  test('a declared field left out of an observation is a failure, not a skipped comparison', () => {
    const e = fake('omit')(IMAGE, CONFIG);
    expect(() => e.step()).toThrow(/left out cr4 from its observation in answer to 'step'/);
  });
});

describe('a process that fails is a finding with its stderr, and the next run gets a fresh process', () => {
  test('exits before the handshake', () => {
    expect(() => fake('exit-at-start')(IMAGE, CONFIG)).toThrow(
      /exited with code 1 while popek waited for its answer to 'hello'\nstderr: fake: cannot start on purpose/,
    );
  });

  test('cannot be started at all', () => {
    expect(() => remoteFactory('cmd:/nonexistent/engine --flag', TIMEOUTS)(IMAGE, CONFIG)).toThrow(
      /could not be started: spawn \/nonexistent\/engine ENOENT/,
    );
  });

  test('dies during a step', () => {
    const make = fake('die');
    const e = make(IMAGE, CONFIG);
    expect(() => e.step()).toThrow(/exited with code 3 while popek waited for its answer to 'step'\nstderr: fake: dying on purpose/);
    // The dead process stays dead for this run; a new run starts another process.
    expect(() => e.observe()).toThrow(/exited with code 3/);
    expect(() => make(IMAGE, CONFIG)).not.toThrow();
  });

  test('writes a line that is not JSON', () => {
    const e = fake('garbage')(IMAGE, CONFIG);
    expect(() => e.step()).toThrow(/wrote a line that is not JSON in answer to 'step': 'this is not json'/);
  });

  test('hangs: killed after the request timeout', () => {
    const e = fake('hang')(IMAGE, CONFIG);
    const t0 = performance.now();
    expect(() => e.step()).toThrow(/did not answer 'step' within 400 ms \(killed\)\nstderr: fake: hanging on purpose/);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  test('answers another request than the one asked', () => {
    const e = fake('wrong-id')(IMAGE, CONFIG);
    expect(() => e.step()).toThrow(/answered request \d+ while popek waited for request \d+ \('step'\)/);
  });

  test('sends an observation of the wrong shape', () => {
    const e = fake('bad-field')(IMAGE, CONFIG);
    expect(() => e.step()).toThrow(
      /malformed observation in answer to 'step': observation.eip: expected an unsigned 32-bit integer, got -1/,
    );
  });

  test('the differ reports a dying engine as a divergence whose error carries the message and stderr', () => {
    const r = lockstep(fake('die'), { image: IMAGE, config: CONFIG, events: [], maxSteps: 10 });
    expect(r.divergence?.outcome).toEqual({ spec: 'retired', engine: 'threw' });
    expect(r.divergence?.error).toMatch(/exited with code 3 .*\nstderr: fake: dying on purpose/s);
  });
});

describe('wire forms', () => {
  test('an image survives encoding', () => {
    expect(decodeImage(JSON.parse(JSON.stringify(encodeImage(IMAGE))))).toEqual(IMAGE);
  });

  test('RAM pages: the first observation sends the pages that are not zero, the next only what changed', () => {
    const ram = new Uint8Array(3 * 4096);
    const sender = new RamSender(ram.length);
    ram[5000] = 7;
    expect(sender.pages(ram).map(([a]) => a)).toEqual([4096]);
    expect(sender.pages(ram)).toEqual([]);
    ram[0] = 1;
    ram[3 * 4096 - 1] = 2;
    expect(sender.pages(ram).map(([a]) => a)).toEqual([0, 8192]);
  });

  test('unknown fields and pages outside RAM are protocol errors', () => {
    const into = fake('ok')(IMAGE, CONFIG).observe();
    expect(() => decodeObservation({ rip: 0 }, into)).toThrow(ProtocolError);
    expect(() => decodeObservation({ ram: { pages: [[8192, 'AA==']] } }, into)).toThrow(/outside guest RAM/);
    expect(() => decodeObservation({ console: 'ĀB' }, into)).toThrow(/code points 0–255/);
  });

  test('a shutdown entry may carry its vector chain (docs/engine-protocol.md); a malformed one is refused', () => {
    const into = fake('ok')(IMAGE, CONFIG).observe();
    decodeObservation({ trace: [{ icount: 3, kind: 'shutdown', chain: [6, 13, 8, 13] }] }, into);
    expect(into.trace).toEqual([{ icount: 3, kind: 'shutdown', chain: [6, 13, 8, 13] }]);
    decodeObservation({ trace: [{ icount: 3, kind: 'shutdown' }] }, into);
    expect(into.trace).toEqual([{ icount: 3, kind: 'shutdown' }]);
    expect(() => decodeObservation({ trace: [{ icount: 3, kind: 'shutdown', chain: [256] }] }, into)).toThrow(/trace\[0\]\.chain/);
    expect(() => decodeObservation({ trace: [{ icount: 3, kind: 'shutdown', chain: 6 }] }, into)).toThrow(/trace\[0\]\.chain/);
  });

  test('command lines split like a shell would split them, without a shell', () => {
    expect(splitCommand(`node "a b.js" 'c d' e\\ f  --x=1`)).toEqual(['node', 'a b.js', 'c d', 'e f', '--x=1']);
    expect(() => splitCommand('node "open')).toThrow(/unterminated/);
    expect(() => splitCommand('  ')).toThrow(/empty/);
  });
});
