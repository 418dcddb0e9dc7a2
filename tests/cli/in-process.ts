// `popek ARGS` in this process, through main() — the same entry point as bin/popek.js —
// with stdout and stderr captured: no node start per case. The subprocess tests in
// cli.test.ts cover the binary itself.

import { expect, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';

/** A guest's console arrives as bytes (run.ts): code points 0–255, as the binary's latin1 reading gives. */
const text = (s: string | Uint8Array) => (typeof s === 'string' ? s : Buffer.from(s).toString('latin1'));

export async function popek(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += text(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += text(s)), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** One line on stderr, starting `popek: `, exit 2 and no stack trace. */
export function expectUsageError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^popek: [^\n]*\n$/);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
