import { isTunnelError, type LogFields, type Logger, type LogLevel, redactSecrets } from '@tunnel/core';
import { pino } from 'pino';

/** pino's own redaction, for the paths where secrets travel under names the key test might miss. */
const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'headers.cookie',
  'apiToken',
  '*.apiToken',
  'token',
  '*.token',
];

/** How errors appear in a log line: the TunnelError's code and hint; a stack only for bugs. */
function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  if (isTunnelError(value)) {
    return { type: 'TunnelError', code: value.code, message: value.message, hint: value.hint };
  }
  return { type: value.name, message: value.message, code: (value as { code?: unknown }).code, stack: value.stack };
}

export interface PinoLoggerOptions {
  /** @default 'info' */
  readonly level?: LogLevel;
  /**
   * A file descriptor (1 stdout, 2 stderr), a file path (appended to), or a line sink. Written
   * synchronously, so nothing is lost at exit. @default 1
   */
  readonly destination?: 1 | 2 | string | ((line: string) => void);
  /** Fields on every line (e.g. `{component: 'daemon'}`). */
  readonly base?: LogFields;
}

/**
 * Core's Logger port on pino: one JSON object per line (`{"level":"info","time":"…","msg":…,
 * …fields}`), the shape journald and log shippers read. Every field goes through core's
 * `redactSecrets` (token-, key-, secret-, password-like names) and pino's path redaction
 * before it is written; errors become `{type, code, message, hint}`.
 */
export class PinoLogger implements Logger {
  readonly pino: pino.Logger;

  constructor(instance: pino.Logger) {
    this.pino = instance;
  }

  debug(message: string, fields?: LogFields): void {
    this.#write('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#write('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#write('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#write('error', message, fields);
  }

  child(bindings: LogFields): Logger {
    return new PinoLogger(this.pino.child(redactSecrets({ ...bindings })));
  }

  #write(level: LogLevel, message: string, fields?: LogFields): void {
    try {
      if (fields === undefined) this.pino[level](message);
      else this.pino[level](redactSecrets({ ...fields }), message);
    } catch {
      // A logger must never throw into the code it observes.
    }
  }
}

export function createPinoLogger(options: PinoLoggerOptions = {}): PinoLogger {
  const destination = options.destination ?? 1;
  const stream =
    typeof destination === 'function'
      ? { write: (line: string) => destination(line) }
      : pino.destination({
          dest: destination,
          sync: true,
          ...(typeof destination === 'string' ? { mkdir: true } : {}),
        });
  const instance = pino(
    {
      level: options.level ?? 'info',
      // No `pid` in the base: core's components log a cloudflared `pid` field of their own.
      base: { ...(options.base ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { error: serializeError, err: serializeError, cause: serializeError },
    },
    stream,
  );
  return new PinoLogger(instance);
}
