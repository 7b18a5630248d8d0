import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A secret value (an API token) that cannot be logged by accident: `String()`, JSON and
 * `util.inspect` all show `[redacted]`. Only `reveal()` gives the value, at the point of use.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

/** Field names whose values are secrets wherever they appear in logs or audit parameters. */
const SECRET_KEY = /token|secret|password|passwd|authorization|api[-_]?key|credential|cookie/i;

/**
 * Returns a copy of `fields` with secret-looking keys replaced by `[redacted]`, recursively
 * (bounded depth, so hostile cyclic input cannot hang a logger).
 */
export function redactSecrets<T>(fields: T, depth = 0): T {
  if (depth > 6 || fields === null || typeof fields !== 'object') return fields;
  if (fields instanceof Secret) return REDACTED as T;
  if (Array.isArray(fields)) return fields.map((item) => redactSecrets(item, depth + 1)) as T;
  if (fields instanceof Error) return fields;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] =
      SECRET_KEY.test(key) && value !== undefined && value !== null ? REDACTED : redactSecrets(value, depth + 1);
  }
  return out as T;
}
