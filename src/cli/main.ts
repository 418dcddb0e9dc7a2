// The `popek` command (DESIGN §10). Every misuse is one line `popek: ...` on stderr and
// exit 2; nothing a user types produces a stack trace.

import { readFileSync } from 'node:fs';
import { EngineCrash, UsageError } from './usage.ts';

type Out = (s: string | Uint8Array) => void;
interface Command {
  summary: string;
  /** Loaded when the command runs: `popek run` need not load what `popek check` needs. */
  main: (args: string[], out: Out) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  run: { summary: 'assemble and run a guest program', main: async (a, o) => (await import('./run.ts')).runCommand(a, o) },
  diff: {
    summary: 'run the spec and an engine in lockstep; print the first divergence',
    main: async (a, o) => (await import('./diff.ts')).diffCommand(a, o),
  },
  check: {
    summary: 'the property suite: generated guests, every engine against the spec',
    main: async (a, o) => (await import('./check.ts')).checkCommand(a, o),
  },
  replay: {
    summary: 're-run a saved counterexample and show the divergence',
    main: async (a, o) => (await import('./replay.ts')).replayCommand(a, o),
  },
  mutants: {
    summary: 'the known-bug catalog against the suite: what catches each bug',
    main: async (a, o) => (await import('./mutants.ts')).mutantsCommand(a, o),
  },
  classify: {
    summary: 'the Popek–Goldberg table of VX32 instructions',
    main: async (a, o) => (await import('./classify.ts')).classifyCommand(a, o),
  },
  bench: {
    summary: 'guest instructions per second of each engine on each workload',
    main: async (a, o) => (await import('./bench.ts')).benchCommand(a, o),
  },
  explain: {
    summary: 'a self-contained HTML page that steps through a run or a counterexample',
    main: async (a, o) => (await import('./explain.ts')).explainMain(a, o),
  },
  serve: {
    summary: 'serve an engine over the JSON-lines engine protocol (stdin/stdout)',
    main: async (a) => (await import('./serve.ts')).serveCommand(a),
  },
  'init-vmm': {
    summary: 'write a starter VMM (vmm.ts, README.md) to check with --engine',
    main: async (a, o) => (await import('./init-vmm.ts')).initVmmCommand(a, o),
  },
};

const HELP = `usage: popek COMMAND [options]    (popek COMMAND --help for more)
       popek --version

popek checks virtual machine monitors against a reference model of VX32.

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}`;

/** Text is UTF-8; a guest's console arrives as bytes (see run.ts). */
const stdout: Out = (s) => process.stdout.write(s);

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      stdout(HELP + '\n');
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-V') {
      stdout(`popek ${version()}\n`);
      return 0;
    }
    if (name.startsWith('-')) throw new UsageError(`unknown option ${name} (see popek --help)`);
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command '${name}' (one of ${Object.keys(COMMANDS).join(', ')})`);
    return await command.main(rest, stdout);
  } catch (e) {
    if (e instanceof EngineCrash) {
      process.stderr.write(`popek: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return 1;
    }
    // One line, whatever the message (parseArgs' own messages span several).
    process.stderr.write(`popek: ${describe(e).replace(/\s*\n\s*/g, ' ')}\n`);
    if (!(e instanceof UsageError || isArgError(e))) {
      if (process.env.POPEK_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
      return 3; // an internal error: a bug in popek, not in the user's input
    }
    return 2;
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** node:util parseArgs reports misuse with these codes. */
function isArgError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

function describe(e: unknown): string {
  if (e instanceof UsageError || isArgError(e)) return (e as Error).message;
  return `internal error: ${e instanceof Error ? e.message : String(e)} (set POPEK_DEBUG=1 for a stack trace)`;
}
