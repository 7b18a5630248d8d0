/**
 * The one errors module. Every failure the manager reports is a {@link TunnelError} with a
 * stable `code` from {@link ERROR_CODES}. Front-ends map codes, never messages: the MCP server
 * returns them as tool errors, the CLI as exit codes (by family).
 */

/** Families group codes for front-ends (the CLI's exit code is one per family). */
export type ErrorFamily = 'input' | 'ownership' | 'conflict' | 'provider' | 'state' | 'internal';

interface ErrorCodeInfo {
  readonly family: ErrorFamily;
  /** Whether retrying the same call later can succeed without changing the input. */
  readonly retryable: boolean;
  /** One line for the documentation table. */
  readonly meaning: string;
}

/**
 * The table of codes. This is the documentation: `docs/errors.md` is generated from it and a
 * test keeps the two equal. Codes are part of the public contract; never rename one.
 */
export const ERROR_CODES = {
  INVALID_HOSTNAME: {
    family: 'input',
    retryable: false,
    meaning: 'A hostname is malformed, too long, or uses a wildcard where none is allowed.',
  },
  INVALID_INPUT: {
    family: 'input',
    retryable: false,
    meaning: 'An argument other than a hostname (port, project, container, token…) is invalid.',
  },
  POLICY_DENIED: {
    family: 'ownership',
    retryable: false,
    meaning: 'The hostname policy forbids this (zone apex, wildcard or deny-listed name).',
  },
  ZONE_NOT_FOUND: {
    family: 'input',
    retryable: false,
    meaning: 'No zone visible to the API token owns the hostname or zone asked for.',
  },
  NOT_FOUND: {
    family: 'input',
    retryable: false,
    meaning: 'The route, record, backup or token asked for does not exist.',
  },
  HOSTNAME_TAKEN: {
    family: 'ownership',
    retryable: false,
    meaning: 'Another project already holds this hostname.',
  },
  NOT_OWNER: {
    family: 'ownership',
    retryable: false,
    meaning: 'The caller does not own the route it tried to change.',
  },
  QUOTA_EXCEEDED: {
    family: 'ownership',
    retryable: false,
    meaning: 'The project already holds as many routes as its quota allows.',
  },
  RECORD_CONFLICT: {
    family: 'conflict',
    retryable: false,
    meaning: 'A DNS record the manager does not own already uses the name.',
  },
  TARGET_UNREACHABLE: {
    family: 'conflict',
    retryable: false,
    meaning: 'cloudflared cannot reach the requested service from where it runs.',
  },
  INGRESS_INVALID: {
    family: 'conflict',
    retryable: false,
    meaning: 'The ingress configuration is (or would become) invalid for cloudflared.',
  },
  CONCURRENT_CHANGE: {
    family: 'conflict',
    retryable: true,
    meaning: 'Someone else changed the same data since it was read; read again and retry.',
  },
  LOCK_TIMEOUT: {
    family: 'conflict',
    retryable: true,
    meaning: 'Another process held the mutation lock for too long.',
  },
  RATE_LIMITED: {
    family: 'provider',
    retryable: true,
    meaning: 'Too many requests: to the Cloudflare API, or by this caller to the manager.',
  },
  PROVIDER_UNAVAILABLE: {
    family: 'provider',
    retryable: true,
    meaning: 'A provider (Cloudflare API, Docker, systemd, cloudflared) did not answer.',
  },
  AUTH_FAILED: {
    family: 'provider',
    retryable: false,
    meaning: 'Credentials are missing, wrong, or lack a permission.',
  },
  CONFIG_INVALID: {
    family: 'state',
    retryable: false,
    meaning: 'The configuration file or an environment override is invalid.',
  },
  STATE_CORRUPT: {
    family: 'state',
    retryable: false,
    meaning: 'The state database is unreadable, inconsistent, or from a newer version.',
  },
  INTERNAL: {
    family: 'internal',
    retryable: false,
    meaning: 'A bug: something that should not happen did. Please report it.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface TunnelErrorOptions {
  /** What to do next, written for the person or agent who got the error. */
  hint: string;
  /** Overrides the code's default retryability (e.g. a 5xx that is known to be permanent). */
  retryable?: boolean;
  /** The underlying error, kept for logs; never shown to MCP clients. */
  cause?: unknown;
  /** Structured facts about the failure (the holding record, the wait in ms…). No secrets. */
  details?: Record<string, unknown>;
}

/** The shape a TunnelError takes on the wire (MCP structured content, CLI `--json`). */
export interface TunnelErrorJson {
  code: ErrorCode;
  message: string;
  hint: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  readonly code: ErrorCode;
  readonly hint: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: TunnelErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
  }

  get family(): ErrorFamily {
    return ERROR_CODES[this.code].family;
  }

  toJSON(): TunnelErrorJson {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isTunnelError(value: unknown, code?: ErrorCode): value is TunnelError {
  return value instanceof TunnelError && (code === undefined || value.code === code);
}

/**
 * Wraps anything thrown into a TunnelError so front-ends have one shape to report.
 * Unknown errors become INTERNAL; their message is kept, their stack only in `cause`.
 */
export function toTunnelError(error: unknown): TunnelError {
  if (error instanceof TunnelError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TunnelError('INTERNAL', `Unexpected error: ${message}`, {
    hint: 'This is a bug in Tunnel Manager. Check the daemon log for the stack trace and report it.',
    cause: error,
  });
}

/** Renders the code table as Markdown; `docs/errors.md` is this text. */
export function renderErrorCodeTable(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, info]) => `| \`${code}\` | ${info.family} | ${info.retryable ? 'yes' : 'no'} | ${info.meaning} |`,
  );
  return ['| code | family | retryable | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
