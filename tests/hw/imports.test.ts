// src/hw's import rules (src/hw/README.md "May import"): no cycle among its files, type
// imports included, and nothing outside src/hw but spec/observation.ts (types) and
// ts-pattern — in particular never src/vmm, src/engines or src/cli (DESIGN §1).

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HW = join(ROOT, 'src/hw');

/** Every module specifier a file imports or re-exports, `import type` included. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)) out.push(m[1]!);
  return out;
}

const files = readdirSync(HW).filter((f) => f.endsWith('.ts'));
const graph = new Map<string, string[]>(
  files.map((f) => {
    const deps = specifiers(readFileSync(join(HW, f), 'utf8')).map((s) =>
      s.startsWith('.') ? relative(ROOT, resolve(HW, s)) : s,
    );
    return [`src/hw/${f}`, deps];
  }),
);

test('src/hw imports only itself, spec/observation.ts and ts-pattern', () => {
  const outside = [...graph].flatMap(([f, deps]) =>
    deps.filter((d) => !d.startsWith('src/hw/') && d !== 'spec/observation.ts' && d !== 'ts-pattern').map((d) => `${f} → ${d}`),
  );
  expect(outside).toEqual([]);
});

test('no import cycle in src/hw, type imports included', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    path.push(f);
    for (const d of graph.get(f) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') cycles.push([...path.slice(path.indexOf(d)), d].join(' → '));
      else if (state.get(d) === undefined) visit(d);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (state.get(f) === undefined) visit(f);
  expect(cycles).toEqual([]);
});

test('the scan sees the imports it checks', () => {
  // A check over an empty graph would pass for any code: cpu.ts must be seen importing mmu.ts.
  expect(graph.get('src/hw/cpu.ts')).toContain('src/hw/mmu.ts');
  expect(graph.get('src/hw/vmx.ts')).toContain('src/hw/cpu.ts');
});
