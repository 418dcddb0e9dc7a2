// The `popek` command (DESIGN §10). Every misuse is one line `popek: ...` on stderr and
// exit 2; nothing a user types produces a stack trace.

import { runCommand, RUN_HELP } from './run.ts';
import { classifyCommand, CLASSIFY_HELP } from './classify.ts';
import { benchCommand, BENCH_HELP } from './bench.ts';
import { diffCommand, DIFF_HELP } from './diff.ts';
import { checkCommand, CHECK_HELP } from './check.ts';
import { replayCommand, REPLAY_HELP } from './replay.ts';
import { mutantsCommand, MUTANTS_HELP } from './mutants.ts';
import { readFileSync } from 'node:fs';
import { explainMain, EXPLAIN_HELP } from './explain.ts';
import { serveCommand, SERVE_HELP } from './serve.ts';
import { initVmmCommand, INIT_VMM_HELP } from './init-vmm.ts';
import { EngineCrash, UsageError } from './usage.ts';

type Out = (s: string | Uint8Array) => void;
interface Command {
  summary: string;
  help: string;
  main: (args: string[], out: Out) => number | Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  run: { summary: 'assemble and run a guest program', help: RUN_HELP, main: runCommand },
  diff: { summary: 'run the spec and an engine in lockstep; print the first divergence', help: DIFF_HELP, main: diffCommand },
  check: { summary: 'the property suite: generated guests, every engine against the spec', help: CHECK_HELP, main: checkCommand },
  replay: { summary: 're-run a saved counterexample and show the divergence', help: REPLAY_HELP, main: replayCommand },
  mutants: { summary: 'the known-bug catalog against the suite: what catches each bug', help: MUTANTS_HELP, main: mutantsCommand },
  classify: { summary: 'the Popek–Goldberg table of VX32 instructions', help: CLASSIFY_HELP, main: classifyCommand },
  bench: { summary: 'guest instructions per second of each engine on each workload', help: BENCH_HELP, main: benchCommand },
  explain: { summary: 'a self-contained HTML page that steps through a run or a counterexample', help: EXPLAIN_HELP, main: explainMain },
  serve: { summary: 'serve an engine over the JSON-lines engine protocol (stdin/stdout)', help: SERVE_HELP, main: serveCommand },
  'init-vmm': { summary: 'write a starter VMM (vmm.ts, README.md) to check with --engine', help: INIT_VMM_HELP, main: initVmmCommand },
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
