import { type Actor, parseProjectName } from '../domain/actor.js';
import { SERVICE_SCHEMES, type ServiceScheme } from '../domain/route.js';
import { TunnelError } from '../errors.js';

/**
 * Docker's own rule for container names. It also keeps out everything that could break out of
 * a URL, a YAML scalar or a shell word (spaces, quotes, `:`, `/`, `#`, `$`, newlines…).
 */
export const CONTAINER_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** What a project asks to publish, before validation. */
export interface TargetRequest {
  readonly actor: Actor;
  /** The container that runs the service; omitted or null for a service on the host. */
  readonly container?: string | null;
  /** The port the service listens on (inside the container, for a container). */
  readonly port: number;
  /** @default 'http' */
  readonly scheme?: ServiceScheme;
}

/** A validated {@link TargetRequest}. */
export interface ParsedTargetRequest {
  readonly actor: Actor;
  readonly container: string | null;
  readonly port: number;
  readonly scheme: ServiceScheme;
}

const shown = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
    : `a ${typeof value}`;

function invalid(message: string, hint: string, field: string): TunnelError {
  return new TunnelError('INVALID_INPUT', message, { hint, details: { field } });
}

function parseActor(input: unknown): Actor {
  const actor = input as { kind?: unknown; project?: unknown } | null;
  if (actor && typeof actor === 'object') {
    if (actor.kind === 'admin') return { kind: 'admin' };
    if (actor.kind === 'project') return { kind: 'project', project: parseProjectName(actor.project) };
  }
  throw invalid('The request has no valid actor.', 'Pass Actor.project(<name>) or Actor.admin().', 'actor');
}

/** Validates a container name, or throws `INVALID_INPUT` with the rule. */
export function parseContainerName(input: unknown): string {
  if (typeof input !== 'string' || !CONTAINER_NAME_PATTERN.test(input)) {
    throw invalid(
      `Invalid container name ${shown(input)}.`,
      'A container name is 1–128 characters of letters, digits, "_", "." and "-", starting with a letter or digit, as `docker ps` shows it (without a leading "/").',
      'container',
    );
  }
  return input;
}

/** Validates a TCP port, or throws `INVALID_INPUT`. */
export function parsePort(input: unknown): number {
  if (typeof input !== 'number' || !Number.isInteger(input) || input < 1 || input > 65_535) {
    const value = typeof input === 'number' ? String(input) : shown(input);
    throw invalid(`Invalid port ${value}.`, 'A port is a whole number from 1 to 65535.', 'port');
  }
  return input;
}

/**
 * Validates a target request before anything looks at the topology: the container name, the
 * port and the scheme end up in a URL inside cloudflared's YAML, so nothing outside their
 * grammar gets through.
 *
 * @throws TunnelError `INVALID_INPUT` naming the field and the rule.
 */
export function parseTargetRequest(input: TargetRequest): ParsedTargetRequest {
  const raw = input as unknown as Record<string, unknown> | null;
  if (!raw || typeof raw !== 'object') {
    throw invalid('The target request is not an object.', 'Pass { actor, port, container?, scheme? }.', 'request');
  }
  const actor = parseActor(raw.actor);
  const container = raw.container === undefined || raw.container === null ? null : parseContainerName(raw.container);
  const port = parsePort(raw.port);
  const scheme = raw.scheme ?? 'http';
  if (typeof scheme !== 'string' || !(SERVICE_SCHEMES as readonly string[]).includes(scheme)) {
    throw invalid(`Invalid scheme ${shown(scheme)}.`, `The scheme is one of ${SERVICE_SCHEMES.join(', ')}.`, 'scheme');
  }
  return { actor, container, port, scheme: scheme as ServiceScheme };
}
