export type LogFields = Readonly<Record<string, unknown>>;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Structured logging.
 *
 * Implementations:
 * - must write `fields` as structured data (not interpolated into the message);
 * - must redact secrets: any field named like a token, key, secret, password or authorization
 *   (see `redactSecrets`) is replaced before it is written;
 * - must not throw.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}
