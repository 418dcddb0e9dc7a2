// Errors a CLI user made (DESIGN §10): printed as one line `popek: ...`, exit 2, no stack.
// Numbers are checked here against a stated range, so that a bad one names its flag and
// the allowed range — never the parser's text, never a silent wrap.

export class UsageError extends Error {}

/** The largest step budget or seed: the engines count steps, and fast-check takes seeds, in 32 bits. */
export const U32_MAX = 0xffffffff;

const SCALE = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as const;

const sizeText = (n: number) => (n % 1024 ** 2 === 0 ? `${n / 1024 ** 2}M` : n % 1024 === 0 ? `${n / 1024}K` : String(n));

/** DESIGN §3.10.15: bytes, or with a K/M/G suffix (powers of 1024), within [min, max]. */
export function parseSize(text: string, flag: string, min: number, max: number): number {
  const range = `from ${sizeText(min)} to ${sizeText(max)}`;
  const m = /^(\d+)([KMG]?)$/i.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: '${text}' is not a size (bytes, or a number with K, M or G, ${range})`);
  const n = Number(m[1]) * SCALE[m[2]!.toUpperCase() as keyof typeof SCALE];
  if (!(n >= min && n <= max)) throw new UsageError(`${flag}: ${text} is out of range (${range})`);
  return n;
}

/** A whole number written in decimal, within [min, max] (both safe integers). */
export function parseCount(text: string, flag: string, min = 0, max = U32_MAX): number {
  const range = `a whole number from ${min} to ${max}`;
  if (!/^[+-]?\d+$/.test(text.trim())) throw new UsageError(`${flag}: '${text}' is not ${range}`);
  const n = Number(text);
  if (!(n >= min && n <= max)) throw new UsageError(`${flag}: ${text} is out of range (${range})`);
  return n;
}

/** A plugin engine failed during a guest run (DESIGN §10): one `popek:` line, exit 1 — a finding, not popek's crash. */
export class EngineCrash extends Error {}
