import type { ErrorCode } from '../errors.js';
import { TunnelError } from '../errors.js';
import type { OriginSettings } from './route-options.js';

/**
 * A CNAME route's lifecycle. The pipeline writes the next state *before* each side effect, so
 * after a crash the stored state says which side effect may or may not have happened.
 *
 * create: reserved → ingress_written → dns_created → active
 * delete: active → deleting → dns_deleted → ingress_removed → deleted
 * any non-final state → failed (after rolling back what the earlier steps did)
 */
export const ROUTE_STATES = [
  'reserved',
  'ingress_written',
  'dns_created',
  'active',
  'deleting',
  'dns_deleted',
  'ingress_removed',
  'deleted',
  'failed',
] as const;

export type RouteState = (typeof ROUTE_STATES)[number];

/** States a route rests in; every other state means a pipeline is (or was, before a crash) running. */
export const FINAL_ROUTE_STATES: ReadonlySet<RouteState> = new Set(['active', 'deleted', 'failed']);

/**
 * States that do not hold the hostname: a route in one of these may coexist with a new route
 * for the same name (the database enforces uniqueness among the others).
 */
export const RELEASED_ROUTE_STATES: ReadonlySet<RouteState> = new Set(['deleted', 'failed']);

/** Allowed transitions. Rollback moves a half-created route to `failed` from any create step. */
export const ROUTE_TRANSITIONS: Readonly<Record<RouteState, readonly RouteState[]>> = {
  reserved: ['ingress_written', 'failed'],
  ingress_written: ['dns_created', 'failed'],
  dns_created: ['active', 'failed'],
  active: ['deleting', 'active'],
  deleting: ['dns_deleted', 'active', 'failed'],
  dns_deleted: ['ingress_removed', 'failed'],
  ingress_removed: ['deleted', 'failed'],
  deleted: [],
  failed: [],
};

export function isRouteState(value: unknown): value is RouteState {
  return typeof value === 'string' && (ROUTE_STATES as readonly string[]).includes(value);
}

export function canTransition(from: RouteState, to: RouteState): boolean {
  return ROUTE_TRANSITIONS[from].includes(to);
}

export function assertTransition(from: RouteState, to: RouteState): void {
  if (!canTransition(from, to)) {
    throw new TunnelError('INTERNAL', `A route cannot move from "${from}" to "${to}".`, {
      hint: 'This is a bug in the pipeline; report it with the audit log of the route.',
    });
  }
}

export const SERVICE_SCHEMES = ['http', 'https', 'tcp', 'ssh'] as const;
export type ServiceScheme = (typeof SERVICE_SCHEMES)[number];

/** What a project asked to publish: a port, optionally in a named container. */
export interface ServiceSpec {
  readonly container: string | null;
  readonly port: number;
  readonly scheme: ServiceScheme;
}

export interface RouteError {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * One ingress rule published through the tunnel, as the state store records it. A hostname has
 * one DNS record and one owner; it may have several routes, one per path (the path-less one
 * included), each its own ingress rule.
 */
export interface CnameRoute {
  readonly id: string;
  /** Canonical hostname (see Hostname); `*.zone` for a wildcard route. */
  readonly hostname: string;
  /** The RE2 path regex of its rule, or null for the hostname's path-less rule. */
  readonly path: string | null;
  /** The rule's `originRequest` settings (allow-listed), or null for none. */
  readonly originRequest: OriginSettings | null;
  readonly zoneId: string;
  readonly zoneName: string;
  /** A project name, or ADMIN_OWNER. */
  readonly owner: string;
  readonly service: ServiceSpec;
  /** The ingress service URL cloudflared forwards to, e.g. `http://web:8080`. */
  readonly target: string;
  /** Why the TargetSelector chose this target, in one sentence. */
  readonly targetReason: string;
  /** The DNS record id once created. */
  readonly dnsRecordId: string | null;
  readonly state: RouteState;
  readonly lastError: RouteError | null;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
}
