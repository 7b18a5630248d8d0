import { CommanderError } from 'commander';
import { type CommandContext, createContext, UsageError } from './context.js';
import { EXIT_USAGE, exitCodeForFamily } from './exit-codes.js';
import { type CliIo, Output, processIo } from './output.js';
import { buildProgram } from './program.js';

/** `--json` anywhere before `--`: usage errors are then reported as JSON too. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** Prints an error the way the command's output mode asks and returns its exit code. */
export async function reportError(out: Output, error: unknown): Promise<number> {
  if (error instanceof UsageError) {
    out.usage(`error: ${error.message}`);
    return EXIT_USAGE;
  }
  const { toTunnelError } = await import('@tunnel/core');
  const tunnelError = toTunnelError(error);
  out.error(tunnelError.toJSON());
  if (tunnelError.code === 'INTERNAL' && out.io.env.TUNNEL_DEBUG) {
    const cause = tunnelError.cause as Error | undefined;
    out.note(cause?.stack ?? String(cause));
  }
  return exitCodeForFamily(tunnelError.family);
}

/**
 * Runs the `tunnel` command line (without the node and script arguments) and returns the exit
 * code. Never throws and never calls `process.exit`: a long-running command (daemon, sandbox,
 * mcp) returns when it has shut down.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const json = wantsJson(argv);
  let exitCode = 0;
  const program = buildProgram(
    async (command, body) => {
      const globals = command.optsWithGlobals() as { config?: string; json?: boolean; color?: boolean };
      const out = new Output(io, { json: Boolean(globals.json), ...(globals.color === false ? { color: false } : {}) });
      const cx = createContext(io, out, globals);
      try {
        exitCode = (await body(cx as CommandContext)) ?? 0;
      } catch (error) {
        exitCode = await reportError(out, error);
      } finally {
        await cx.close();
      }
    },
    (program) => {
      program.exitOverride();
      program.configureOutput({
        writeOut: io.stdout,
        writeErr: io.stderr,
        outputError: (text) => {
          // One line: commander puts its "(Did you mean …?)" on a second one.
          const line = text
            .trim()
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean)
            .join(' ');
          new Output(io, { json }).usage(`${line.startsWith('error:') ? '' : 'error: '}${line}`);
        },
      });
    },
  );
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with exit code 0; a bare group (`tunnel cname`) prints help and is a usage error.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    return reportError(new Output(io, { json }), error);
  }
  return exitCode;
}
