// The repository keeps the boundaries of DESIGN §1 (issue 13): no import cycle, imports
// point down (cli → properties → engines → vmm → hw), spec/ and src/hw, src/vmm are
// independent (only `import type` of spec/observation.ts), and the src/vmm folders import
// only what their READMEs allow. The rules and their own tests: import-graph.ts and
// import-graph.test.ts beside this file.

import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { checkGraph, scanImports, SCANNED } from './import-graph.ts';

const graph = scanImports(fileURLToPath(new URL('../../', import.meta.url)), SCANNED);

test('the scan sees the repository', () => {
  // A scan that found nothing would pass every rule below.
  expect(graph.files).toContain('src/hw/cpu.ts');
  expect(graph.files).toContain('spec/machine.ts');
  expect(graph.edges.some((e) => e.from === 'src/cli/main.ts' && e.to === 'src/cli/run.ts')).toBe(true);
});

test('no import crosses a boundary of DESIGN §1, and none closes a cycle', () => {
  const violations = checkGraph(graph).map((v) => `[${v.rule}] ${v.message}`);
  // One line per violation, so a failure reads as a list and not as a diff of arrays.
  expect(violations.join('\n')).toBe('');
});
