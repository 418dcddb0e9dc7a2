// bench's note that other processes were computing (src/cli/machine-load.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, test } from 'vitest';
import { BUSY_THRESHOLD, loadWarning, probeOtherLoad } from '../../src/cli/machine-load.ts';

test('a process spinning beside bench is seen', async () => {
  const child = spawn(process.execPath, ['-e', 'const t = Date.now() + 900; while (Date.now() < t);']);
  await new Promise((r) => setTimeout(r, 100)); // the child is up and spinning
  const probe = probeOtherLoad();
  await new Promise((r) => setTimeout(r, 600));
  const other = probe();
  await once(child, 'exit');
  // One core spun for the whole window (less whatever share the test's neighbours took).
  expect(other).toBeGreaterThan(0.4);
  expect(loadWarning(other)).toMatch(/^bench: other processes kept \d\.\d of this machine's \d+ CPUs busy/);
});

test('a quiet machine gets no note', () => {
  expect(loadWarning(0)).toBeUndefined();
  expect(loadWarning(BUSY_THRESHOLD)).toBeUndefined();
  expect(loadWarning(BUSY_THRESHOLD + 0.1)).toBeDefined();
});
