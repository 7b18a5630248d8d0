import { Actor, ADMIN_OWNER, parseProjectName } from '../domain/actor.js';
import { Hostname, hostnameFromSubdomain } from '../domain/hostname.js';
import { parseInstanceId } from '../domain/instance.js';
import type { OriginSettings } from '../domain/route-options.js';
import { TunnelError } from '../errors.js';
import { type ParsedTargetRequest, parseTargetRequest } from '../topology/target-request.js';
import type { CnameRequest } from './api.js';
import { parseOriginSettings, parseRoutePath, type RouteOptionsPolicy } from './route-options.js';

/** A {@link CnameRequest} that passed every check that needs no I/O. */
export interface ValidatedCnameRequest {
  readonly actor: Actor;
  readonly hostname: Hostname;
  /** The owner the route gets: the project, `project` for an admin acting for one, or `@admin`. */
  readonly owner: string;
  readonly service: ParsedTargetRequest;
  /** The rule's path regex; null for the hostname's path-less rule. */
  readonly path: string | null;
  /** Canonical origin settings; null for none. */
  readonly originRequest: OriginSettings | null;
  /** Re-target the owner's route at this path (null: the path-less one) to `path`; undefined: no move. */
  readonly fromPath: string | null | undefined;
  readonly dryRun: boolean;
  readonly adopt: boolean;
  /** With `adopt`: the sibling instance whose record the admin takes over on purpose. */
  readonly fromInstance: string | null;
}

const shown = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
    : `a ${value === null ? 'null' : typeof value}`;

function invalid(message: string, hint: string, field: string): TunnelError {
  return new TunnelError('INVALID_INPUT', message, { hint, details: { field } });
}

/** Checks an actor handed over by a front-end (core trusts who it is, not its shape). */
export function parseActor(input: unknown): Actor {
  const actor = input as { kind?: unknown; project?: unknown; via?: unknown } | null;
  if (actor && typeof actor === 'object') {
    if (actor.kind === 'admin') return Actor.admin();
    if (actor.kind === 'project') {
      const project = parseProjectName(actor.project);
      return typeof actor.via === 'string' ? Actor.project(project, actor.via) : Actor.project(project);
    }
  }
  throw invalid('The call has no valid actor.', 'Pass Actor.project(<name>) or Actor.admin().', 'actor');
}

function optionalBoolean(raw: Record<string, unknown>, key: string): boolean {
  const value = raw[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw invalid(`"${key}" must be true or false, got ${shown(value)}.`, `Pass ${key}: true, or leave it out.`, key);
  return value;
}

/** The hostname a request names: `hostname`, or `subdomain` + `domain` (default `defaultDomain`). */
export function requestedHostname(raw: Record<string, unknown>, defaultDomain: string | undefined): Hostname {
  const { hostname, subdomain, domain } = raw;
  if (hostname !== undefined && hostname !== null) {
    if (subdomain !== undefined && subdomain !== null) {
      throw invalid(
        'Give either "hostname" or "subdomain", not both.',
        'Pass hostname: "app.example.com", or subdomain: "app" with domain: "example.com".',
        'hostname',
      );
    }
    return Hostname.parse(hostname, { allowWildcard: true });
  }
  if (subdomain === undefined || subdomain === null) {
    throw invalid(
      'The request names no hostname.',
      'Pass hostname: "app.example.com", or subdomain: "app" (with domain, or a configured policy.defaultDomain).',
      'hostname',
    );
  }
  if (typeof subdomain !== 'string')
    throw invalid(`"subdomain" must be a string, got ${shown(subdomain)}.`, 'Pass a label such as "app".', 'subdomain');
  const zone = domain ?? defaultDomain;
  if (zone === undefined || zone === null) {
    throw invalid(
      'The request gives a subdomain but no domain, and no default domain is configured.',
      'Pass domain: "example.com" (see the domains you may use), or ask the operator to set policy.defaultDomain.',
      'domain',
    );
  }
  if (typeof zone !== 'string')
    throw invalid(`"domain" must be a string, got ${shown(zone)}.`, 'Pass a zone such as "example.com".', 'domain');
  // The domain is checked on its own first, so a wildcard or junk in it cannot hide in the join.
  const parent = Hostname.parse(zone);
  return hostnameFromSubdomain(subdomain, parent);
}

/**
 * Validates everything about a request that needs no I/O but the `caPool` file check: the
 * actor, the name, the path, the origin settings, the service, and the admin-only fields.
 * Wildcards pass here (the policy decides who may take them).
 *
 * @throws TunnelError `INVALID_INPUT`, `INVALID_HOSTNAME` or `NOT_OWNER` (admin-only fields).
 */
export function validateCnameRequest(
  actorInput: unknown,
  input: CnameRequest,
  defaultDomain: string | undefined,
  routeOptions: RouteOptionsPolicy = { caPoolDirs: [] },
): ValidatedCnameRequest {
  const actor = parseActor(actorInput);
  const raw = input as unknown as Record<string, unknown> | null;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(
      'The request is not an object.',
      'Pass { hostname, service: { port, container?, scheme? } }.',
      'request',
    );
  }
  const dryRun = optionalBoolean(raw, 'dryRun');
  const adopt = optionalBoolean(raw, 'adopt');
  const project = raw.project;
  const fromInstance =
    raw.fromInstance === undefined || raw.fromInstance === null
      ? null
      : parseInstanceId(raw.fromInstance, 'fromInstance');
  if (fromInstance !== null && (actor.kind !== 'admin' || !adopt)) {
    throw new TunnelError(
      actor.kind === 'admin' ? 'INVALID_INPUT' : 'NOT_OWNER',
      actor.kind === 'admin'
        ? '"fromInstance" only goes with adopt: true.'
        : 'Only an admin may take a name from another Tunnel Manager instance.',
      {
        hint:
          actor.kind === 'admin'
            ? 'Pass adopt: true with fromInstance to move the name to this instance, or leave fromInstance out.'
            : 'Pick another hostname, or ask the operator.',
        details: { field: 'fromInstance' },
      },
    );
  }
  if (actor.kind === 'project') {
    if (adopt) {
      throw new TunnelError('NOT_OWNER', 'Only an admin may adopt a DNS record the manager did not create.', {
        hint: 'Pick another hostname, or ask the operator to adopt the record.',
        details: { field: 'adopt' },
      });
    }
    if (project !== undefined && project !== null && project !== actor.project) {
      throw new TunnelError('NOT_OWNER', `Project ${actor.project} may not act for another project.`, {
        hint: 'Leave "project" out: routes you create are yours.',
        details: { field: 'project' },
      });
    }
  }
  const owner =
    actor.kind === 'project'
      ? actor.project
      : project === undefined || project === null
        ? ADMIN_OWNER
        : parseProjectName(project);
  const hostname = requestedHostname(raw, defaultDomain);
  const path = parseRoutePath(raw.path);
  const fromPath = raw.fromPath === undefined ? undefined : parseRoutePath(raw.fromPath, 'fromPath');
  const originRequest = parseOriginSettings(raw.originRequest, routeOptions);
  const service = raw.service as Record<string, unknown> | null | undefined;
  if (!service || typeof service !== 'object' || Array.isArray(service)) {
    throw invalid(
      'The request has no "service".',
      'Pass service: { port: 8080 } (and container: "web" for a service in Docker).',
      'service',
    );
  }
  const parsed = parseTargetRequest({
    actor,
    container: service.container as string | null | undefined,
    port: service.port as number,
    ...(service.scheme === undefined ? {} : { scheme: service.scheme as ParsedTargetRequest['scheme'] }),
  });
  return { actor, hostname, owner, service: parsed, path, originRequest, fromPath, dryRun, adopt, fromInstance };
}
