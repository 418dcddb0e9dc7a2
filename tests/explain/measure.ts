// Page size and time to first paint of `popek explain` pages in headless chromium (issue 18
// item 3: target ≤ 5 MB and ≤ 2 s for a 10,000-step run). A measurement, not a test:
//   npx tsx tests/explain/measure.ts [FILE.s] [STEPS]
// prints, per engine, the page's bytes, the time to write it, and chromium's
// first-contentful-paint and when the page's script had built the first frame, both since
// navigation start, and the script's time for one step back (median of 3 loads).

import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { explainCommand } from '../../src/cli/explain.ts';

const file = process.argv[2] ?? 'examples/bench/paging-loop.s';
const steps = process.argv[3] ?? '10000';
const scratch = mkdtempSync(join(tmpdir(), 'popek-explain-measure-'));
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'popek-chromium-')), {
  executablePath: process.env.POPEK_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1500, height: 1000 },
});
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const engine of ['vmx-shadow', 'vmx-ept', 'interpret']) {
  const out = join(scratch, `${engine}.html`);
  const t0 = performance.now();
  explainCommand([file, '--engine', engine, '--max-steps', steps, '-o', out], () => {});
  const writeMs = performance.now() - t0;
  const fcp: number[] = [];
  const ready: number[] = [];
  const step: number[] = [];
  for (let i = 0; i < 3; i++) {
    const page = await context.newPage();
    await page.goto(`file://${out}#step=${steps}`);
    await page.waitForSelector('#state table');
    // The first paint after the first frame's DOM exists (the placeholder text may paint earlier).
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve))));
    const [paint, drawn] = await page.evaluate(() => [
      performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      performance.getEntriesByName('popek-first-frame')[0]?.startTime ?? NaN,
    ]);
    // Stepping: the script's time per ← (DOM rebuilt, timeline redrawn), layout not included.
    step.push(
      await page.evaluate(() => {
        const t = performance.now();
        for (let k = 0; k < 50; k++) document.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft' }));
        return (performance.now() - t) / 50;
      }),
    );
    fcp.push(paint);
    ready.push(drawn);
    await page.close();
  }
  console.log(
    `${engine.padEnd(11)} ${steps} steps  ${(statSync(out).size / 1e6).toFixed(2)} MB  written in ${(writeMs / 1000).toFixed(1)} s  ` +
      `first-contentful-paint ${median(fcp).toFixed(0)} ms  first frame built ${median(ready).toFixed(0)} ms  ${median(step).toFixed(1)} ms a step`,
  );
}
await context.close();
