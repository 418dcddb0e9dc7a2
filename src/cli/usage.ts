// Errors a CLI user made (DESIGN §10): printed as one line `popek: ...`, exit 2, no stack.

export class UsageError extends Error {}

/** DESIGN §3.10.15: bytes, or with a K/M/G suffix (powers of 1024). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what}: '${text}' is not a size (bytes, or a number with K, M or G)`);
  const scale = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  const n = Number(m[1]) * scale;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what}: '${text}' is too large`);
  return n;
}

export function parseCount(text: string, what: string, min = 0): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what}: '${text}' is not a whole number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${what}: '${text}' must be a whole number ≥ ${min}`);
  return n;
}

/** A plugin engine failed during a guest run (DESIGN §10): one `popek:` line, exit 1 — a finding, not popek's crash. */
export class EngineCrash extends Error {}
