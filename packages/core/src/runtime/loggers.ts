import type { LogFields, Logger, LogLevel } from '../ports/logger.js';
import { redactSecrets } from './secret.js';

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

/** Discards everything: the default for library use, where the host app brings its own. */
export class NoopLogger implements Logger {
  debug(): void {}
  info(): void {}
  warn(): void {}
  error(): void {}
  child(): Logger {
    return this;
  }
}

export interface JsonLoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /** @default process.stderr */
  write?: (line: string) => void;
  /** @default Date.now */
  now?: () => number;
}

/**
 * One JSON object per line (`{"time","level","msg",...fields}`), the shape journald and log
 * shippers read. Secret-looking fields are redacted; errors are flattened to code/message.
 */
export class JsonLogger implements Logger {
  readonly #threshold: number;
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  readonly #bindings: LogFields;
  readonly #options: JsonLoggerOptions;

  constructor(options: JsonLoggerOptions = {}, bindings: LogFields = {}) {
    this.#threshold = LEVELS[options.level ?? 'info'];
    this.#write = options.write ?? ((line) => process.stderr.write(line));
    this.#now = options.now ?? Date.now;
    this.#bindings = bindings;
    this.#options = options;
  }

  debug(message: string, fields?: LogFields): void {
    this.#log('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#log('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#log('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#log('error', message, fields);
  }

  child(bindings: LogFields): Logger {
    return new JsonLogger(this.#options, { ...this.#bindings, ...bindings });
  }

  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[level] < this.#threshold) return;
    try {
      const safe = redactSecrets({ ...this.#bindings, ...fields });
      const line = JSON.stringify(
        { time: new Date(this.#now()).toISOString(), level, msg, ...safe },
        (_key, value: unknown) =>
          value instanceof Error
            ? { name: value.name, message: value.message, code: (value as { code?: unknown }).code }
            : value,
      );
      this.#write(`${line}\n`);
    } catch {
      // A logger must never throw into the code it observes.
    }
  }
}
