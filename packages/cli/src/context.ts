import type { Logger, TunnelConfig } from '@tunnel/core';
import type { CliIo, Output } from './output.js';

/** The options every command accepts (see `buildProgram`). */
export interface GlobalOptions {
  readonly config?: string;
  readonly json?: boolean;
  /** false with `--no-color`. */
  readonly color?: boolean;
}

/** What a command body gets: where to print, the global options, and lazily loaded shared pieces. */
export interface CommandContext {
  readonly io: CliIo;
  readonly out: Output;
  readonly globals: GlobalOptions;
  /** The configuration: `--config`, else `$TUNNEL_CONFIG`, else the default file, plus `TM_*` overrides. */
  config(): Promise<TunnelConfig>;
  /** A logger for this command: warnings and errors as JSON lines on stderr (`daemon` logs to stdout with pino). */
  logger(): Promise<Logger>;
  /** Runs `cleanup` when the command ends, in reverse order of registration, even after an error. */
  defer(cleanup: () => unknown): void;
}

/** A usage problem found after parsing (e.g. two options that exclude each other): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function createContext(
  io: CliIo,
  out: Output,
  globals: GlobalOptions,
): CommandContext & { close(): Promise<void> } {
  let config: Promise<TunnelConfig> | undefined;
  let logger: Promise<Logger> | undefined;
  const cleanups: Array<() => unknown> = [];
  return {
    io,
    out,
    globals,
    config() {
      config ??= import('@tunnel/core').then(({ loadConfig }) =>
        loadConfig({ env: io.env, ...(globals.config ? { file: globals.config } : {}) }),
      );
      return config;
    },
    logger() {
      // Core's JSON logger (warnings on stderr): a one-shot command does not pay for loading pino.
      logger ??= import('@tunnel/core').then(async ({ JsonLogger }) => {
        const level = await this.config().then(
          (c) => (c.daemon.logLevel === 'debug' ? 'debug' : 'warn'),
          () => 'warn' as const,
        );
        return new JsonLogger({ level, write: (line) => io.stderr(line) });
      });
      return logger;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
    async close() {
      for (const cleanup of cleanups.splice(0).reverse()) {
        try {
          await cleanup();
        } catch {
          // Cleanup failures must not hide the command's own result.
        }
      }
    },
  };
}
