// `popek explain` in a real browser (issue 18 item 5): Debian's chromium driven by
// Playwright (@playwright/test's chromium; never `npx playwright install`: .ci/run installs chromium
// with apt-get). Each test writes a page with the command itself, opens it from file://
// and reads what a student would see. Expected values are worked out by hand from
// examples/paging.s and DESIGN §3.5 / §6.5, not copied from the page. A screenshot of each
// is kept in test-artifacts/explain/ (gitignored).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { explainCommand } from '../../src/cli/explain.ts';

const root = new URL('../../', import.meta.url).pathname;
const artifacts = join(root, 'test-artifacts/explain');
const scratch = mkdtempSync(join(tmpdir(), 'popek-explain-'));
/** Debian's chromium (`.ci/run` installs it); POPEK_CHROMIUM points elsewhere. */
const CHROMIUM = process.env.POPEK_CHROMIUM ?? '/usr/bin/chromium';

let context: BrowserContext;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'popek-chromium-')), {
    executablePath: CHROMIUM,
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
});

afterAll(async () => {
  await context?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** `popek explain ARGS -o NAME.html`, then the page opened at `hash`, with no script error. */
async function explain(name: string, args: string[], hash = ''): Promise<Page> {
  const out = join(scratch, `${name}.html`);
  const lines: string[] = [];
  expect(explainCommand([...args, '-o', out], (s) => lines.push(s))).toBe(0);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`file://${out}${hash}`);
  await page.waitForSelector('#state table');
  expect(errors).toEqual([]);
  return page;
}

/** The PTE-style bits a row of the walk panel shows switched on. */
async function bitsOn(page: Page, selector: string): Promise<string[]> {
  return page.locator(`${selector} .bit.on`).allTextContents();
}

describe('popek explain in chromium', () => {
  test('paging.s stepped to the first #PF shows the faulting PDE, PTE and error code (vmx-ept: the 2-D walk)', async () => {
    const page = await explain('paging-ept', ['examples/paging.s', '--engine', 'vmx-ept', '--max-steps', '2700']);
    await page.keyboard.press('e'); // the next delivered event: the first #PF
    // paging.s: `mov [ebx], eax` with ebx = 0x400000 at cpl 0; PDE 1 at PAGE_DIR + 4 =
    // 0x10004 holds HIGH_TABLE | P | RW = 0x12003 (no A: nothing was translated through it,
    // DESIGN §3.5.5), its PTE 0 at HIGH_TABLE = 0x12000 is 0; a supervisor write to a
    // not-present page: error code W = 0x2 (DESIGN §3.5.6), CR2 = 0x400000.
    const fault = page.locator('.walk', { has: page.locator('.fault') }).first();
    await expect.poll(() => fault.locator('h3').textContent()).toContain('write 0x00400000');
    expect(await fault.locator('h3 .errcode').textContent()).toBe('0x2');
    expect(await fault.locator('h3 .bit.on').allTextContents()).toEqual(['W']);
    const pde = fault.locator('.guest tr[data-entry="PDE"]');
    expect(await pde.textContent()).toContain('@0x00010004');
    expect(await pde.locator('td.v').textContent()).toBe('0x00012003');
    const pte = fault.locator('.guest tr[data-entry="PTE"]');
    expect(await pte.textContent()).toContain('@0x00012000');
    expect(await pte.locator('td.v').textContent()).toBe('0x00000000');
    expect(await pte.getAttribute('class')).toContain('np');
    expect(await page.locator('tr[data-field="cr2"] td.v').textContent()).toBe('0x00400000');
    // The 2-D walk: the guest PDE and PTE are guest-physical references, each through the
    // EPT; the walk stops at the not-present PTE, so there is no data row.
    expect(
      await fault.locator('.ept:not(.before) tr[data-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row'))),
    ).toEqual(['PDE', 'PTE']);
    expect(page.url()).toMatch(/#step=\d+$/);
    await page.screenshot({ path: join(artifacts, 'first-pf-vmx-ept.png') });
    await page.close();
  });

  test('vmx-shadow: a traced guest table is read-only in the shadow where the guest maps it writable', async () => {
    const page = await explain('paging-shadow', ['examples/paging.s', '--engine', 'vmx-shadow', '--max-steps', '3000']);
    // The #PF handler's `mov [eax + 0x12000], ebx` writes a PTE of HIGH_TABLE (gfn 0x12)
    // through the identity map. By its second run, gfn 0x12 is shadowed as a table (the
    // retried store at 0x400000 was filled through it), so DESIGN §6.5 makes every spte
    // mapping it read-only while the guest's own PTE (LOW_TABLE entry 0x12, at 0x11048)
    // stays writable: the store exits and is emulated.
    const addr = await page.locator('#listing li', { hasText: 'mov [eax + 0x12000], ebx' }).getAttribute('data-addr');
    const steps = await page.evaluate((at) => {
      const data = JSON.parse(document.getElementById('popek-data')!.textContent) as { runs: { steps: { at: number }[] }[] };
      return data.runs[0]!.steps.flatMap((s, i) => (s.at === at ? [i + 1] : []));
    }, Number(addr));
    expect(steps.length).toBe(2); // in 3000 steps, two of paging.s's three faults are handled
    await page.evaluate((k) => (location.hash = `#step=${k}`), steps[1]!);
    await expect.poll(() => page.locator('#pos').textContent()).toContain(`step ${steps[1]} `);
    const store = page.locator('.walk', { has: page.locator('h3', { hasText: 'write 0x00012004' }) });
    const gpte = store.locator('.guest tr[data-entry="PTE"]');
    expect(await gpte.textContent()).toContain('@0x00011048');
    expect(await bitsOn(page, '.walk:has(h3:has-text("write 0x00012004")) .guest tr[data-entry="PTE"]')).toEqual(
      expect.arrayContaining(['P', 'RW']),
    );
    // After the step (a `before` panel beside it shows the shadow as the step met it).
    const spte = store.locator('.shadow:not(.before) tr[data-entry="sPTE"]');
    expect(await spte.getAttribute('class')).toContain('traced');
    const sbits = await spte.locator('.bit.on').allTextContents();
    expect(sbits).toContain('P');
    expect(sbits).not.toContain('RW');
    expect(await store.locator('.shadow:not(.before) .traced-note').textContent()).toContain('0x12');
    // The write to the traced page is an exit: a #PF with P = 1 (protection), W = 1.
    expect(await page.locator('.exits td').allTextContents()).toEqual(expect.arrayContaining(['exception', '14 ec 0x3']));
    await page.screenshot({ path: join(artifacts, 'traced-gfn-vmx-shadow.png') });
    await page.close();
  });

  test("a catalog bug's replay opens at the first divergence with the diverging field highlighted", async () => {
    // cr2-not-set (DESIGN §8 "CR2 not set"): the reflected #PF leaves the guest's CR2 at 0;
    // the spec writes the faulting address, 0x400000, at paging.s's first fault.
    const replay = join(scratch, 'cr2.json');
    writeFileSync(
      replay,
      JSON.stringify({
        popek: 'counterexample',
        version: 1,
        property: 'equivalence',
        engine: 'vmx-shadow',
        bugs: ['cr2-not-set'],
        seed: 0,
        path: '',
        source: readFileSync(join(root, 'examples/paging.s'), 'utf8'),
        events: [],
        ramBytes: 1 << 20,
        maxSteps: 10_000,
        instructions: 0,
        divergence: '',
      }),
    );
    const page = await explain('replay-cr2', [replay]);
    const row = page.locator('.regs tr.diverged');
    expect(await row.getAttribute('data-field')).toBe('cr2');
    expect(await row.locator('td.v').allTextContents()).toEqual(['0x00400000', '0x00000000']);
    await expect.poll(() => row.isVisible()).toBe(true);
    expect(await row.evaluate((el) => el.getBoundingClientRect().top < window.innerHeight)).toBe(true);
    expect(await page.locator('#divergence').textContent()).toContain('cr2');
    // Both engines, side by side.
    expect(await page.locator('.regs tr').first().locator('th').allTextContents()).toEqual(['', 'spec', 'vmx-shadow --bug cr2-not-set']);
    await page.screenshot({ path: join(artifacts, 'replay-cr2-not-set.png') });
    await page.close();
  });
});
