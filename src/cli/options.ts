// Parsing a command's options with node:util parseArgs, with popek's own messages
// (DESIGN §10: one clear `popek:` line): an unknown option points at the command's
// --help, a missing value names its flag, and a negative number is taken as a value
// (`--seed -5`) so that its range check, not the parser, explains what is allowed.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values'];
  positionals: string[];
  /** The options the user wrote (defaults aside), to refuse combinations that do not apply. */
  given: ReadonlySet<string>;
}

export function parseCommand<O extends Options>(command: string, args: string[], options: O): Parsed<O> {
  // `--seed -5` → `--seed=-5`: parseArgs would call the value ambiguous.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${a}=${next}`);
      i++;
    } else joined.push(a);
  }
  try {
    const r = parseArgs({ args: joined, options, allowPositionals: true, strict: true, tokens: true });
    const given = new Set(r.tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
    return { values: r.values, positionals: r.positionals, given };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const flag = /'(-[^' ]*)/.exec((e as Error).message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${flag} (see popek ${command} --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const detail = /does not take/.test((e as Error).message) ? 'takes no value' : 'needs a value';
      throw new UsageError(`${flag} ${detail} (see popek ${command} --help)`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
      throw new UsageError(`${command}: unexpected argument (see popek ${command} --help)`);
    throw e;
  }
}

/** With `mode` on, every given option outside `allowed` is an error: it would be silently ignored. */
export function refuseWith(given: ReadonlySet<string>, mode: string, allowed: readonly string[]): void {
  if (!given.has(mode)) return;
  const stray = [...given].find((o) => o !== mode && o !== 'help' && !allowed.includes(o));
  if (stray !== undefined) throw new UsageError(`--${stray} does not apply with --${mode}`);
}
