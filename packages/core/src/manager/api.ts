import type { Actor } from '../domain/actor.js';
import type { AuditEntry, AuditQuery } from '../domain/audit.js';
import type { Domain } from '../domain/domain.js';
import type { HealthSample, HealthStatus, ProcessState, TunnelApiStatus } from '../domain/health.js';
import type { CnameRoute, RouteState, ServiceScheme } from '../domain/route.js';
import type { OriginSettings } from '../domain/route-options.js';
import type { LabelProblem } from '../ports/state-store.js';

/*
 * The façade every front-end uses (MCP tools, CLI commands, library callers). Front-ends
 * authenticate and pass an Actor; everything else — validation, policy, ownership, locking,
 * audit — happens behind these methods. All results are plain serialisable data.
 */

/** What a caller asks to publish. */
export interface CnameRequest {
  /**
   * A full hostname, e.g. `app.example.com`. Either this or `subdomain`. A wildcard
   * `*.team.example.com` is for admins, and for projects in the zones `policy.wildcardZones`
   * names; it gets the DNS wildcard record and a rule placed after the exact names it covers.
   */
  readonly hostname?: string;
  /** A label (or dotted labels) below `domain`, e.g. `app`. */
  readonly subdomain?: string;
  /** The zone for `subdomain`. @default config.policy.defaultDomain */
  readonly domain?: string;
  readonly service: {
    /** The container serving it, when it runs in Docker. */
    readonly container?: string | null;
    readonly port: number;
    /** @default 'http' */
    readonly scheme?: ServiceScheme;
  };
  /**
   * Only requests whose path matches this RE2 regex (unanchored, as cloudflared matches it:
   * `^/api/` for everything under /api/). A hostname may have several routes, one per path,
   * all its owner's; the most specific path wins (path rules before the path-less one, then
   * the longest literal prefix). @default none: the hostname's path-less rule
   */
  readonly path?: string | null;
  /**
   * Origin settings written as the rule's `originRequest`, from an allow-list (see
   * {@link OriginSettings}), e.g. `{ noTLSVerify: true }` for a self-signed HTTPS origin.
   * Replaces the route's settings as a whole. @default none
   */
  readonly originRequest?: OriginSettings | null;
  /**
   * Re-target your route at this path (null or "" for the path-less one) so it serves `path`
   * instead: one rule change, no DNS change. @default unset: `path` names the route itself
   */
  readonly fromPath?: string | null;
  /** Return the plan and change nothing. */
  readonly dryRun?: boolean;
  /** Admin only: take over a name held by a DNS record the manager did not create. */
  readonly adopt?: boolean;
  /**
   * Admin only, with `adopt`: also take the name when another Tunnel Manager instance (this id)
   * publishes it — moving a name between VMs on purpose. Without it a sibling's record is never
   * replaced.
   */
  readonly fromInstance?: string;
  /** Admin only: create the route on behalf of this project. @default the admin owner */
  readonly project?: string;
}

/** One step the pipeline will take (dry run) or took. */
export interface PlannedStep {
  readonly step:
    | 'reserve'
    | 'write_ingress'
    | 'create_dns'
    | 'replace_dns'
    | 'update_ingress'
    | 'restart'
    | 'activate'
    | 'none';
  /** One human line, e.g. `add ingress rule app.example.com → http://web:8080`. */
  readonly summary: string;
}

export interface CnameResult {
  readonly route: CnameRoute;
  /** `https://<hostname>` */
  readonly publicUrl: string;
  /** The ingress service URL chosen, and why (one sentence for people and agents). */
  readonly target: string;
  readonly targetReason: string;
  /** created: a new route; updated: the owner's route got a new target; unchanged: idempotent repeat. */
  readonly outcome: 'created' | 'updated' | 'unchanged' | 'planned';
  /** The rule is written but cloudflared has not been restarted yet (the daemon will). */
  readonly restartPending: boolean;
  /** Why the restart is pending (not awaited, no daemon answered in time, it failed…), when it is. */
  readonly restartDetail?: string;
  readonly steps: readonly PlannedStep[];
  readonly durationMs: number;
}

/** Options of `deleteCname`. */
export interface DeleteOptions {
  /** The path of the route to delete. @default null: the hostname's path-less route */
  readonly path?: string | null;
  /**
   * Admin only: put back the records an adopt replaced when the route was created (type,
   * content, proxied, TTL and comment as they were). @default false
   */
  readonly restoreReplaced?: boolean;
}

export interface DeleteResult {
  readonly hostname: string;
  /** The deleted route's path (null: the path-less one). */
  readonly path: string | null;
  /** Whether the hostname's DNS record went too (its last route was deleted). */
  readonly dnsRecordDeleted: boolean;
  readonly route: CnameRoute;
  /** The records put back (`restoreReplaced`), as `TYPE content` lines; empty otherwise. */
  readonly restored?: readonly string[];
  readonly restartPending: boolean;
  /** Why the restart is pending, when it is. */
  readonly restartDetail?: string;
  readonly durationMs: number;
}

export interface CnameListFilter {
  /** Admin only (projects always see their own). */
  readonly project?: string;
  readonly states?: readonly RouteState[];
  readonly zone?: string;
}

export interface DomainView extends Domain {
  /** Whether this caller may create names in it (active, not deny-listed as a whole). */
  readonly usable: boolean;
  /** Why not, when `usable` is false. */
  readonly reason: string | null;
}

export interface RestartInfo {
  readonly at: number;
  readonly reason: string;
  readonly outcome: 'ok' | 'error';
  readonly durationMs: number;
}

export interface StatusReport {
  /** This manager's instance id (`instance.id`, or derived from the tunnel id); null when neither is set. */
  readonly instance: string | null;
  readonly tunnel: {
    /** `unknown` when no sample has been taken yet (no daemon running). */
    readonly status: HealthStatus | 'unknown';
    readonly processState: ProcessState | 'unknown';
    readonly readyConnections: number | null;
    readonly apiStatus: TunnelApiStatus | null;
    readonly lastCheckAt: number | null;
    readonly detail: string | null;
  };
  /** Newest first. */
  readonly recentSamples: readonly HealthSample[];
  readonly lastRestart: RestartInfo | null;
  readonly restartPending: boolean;
  readonly routes: Readonly<Record<RouteState, number>>;
  readonly domains: readonly { readonly name: string; readonly status: string }[];
  /**
   * Containers whose `tunnel.*` labels could not be published (docker.labels), as of the
   * daemon's last pass; a project sees those naming it.
   */
  readonly labelProblems: readonly LabelProblem[];
}

/**
 * The TunnelManager façade.
 *
 * Every mutation: validates before touching anything, checks ownership, takes the
 * cross-process mutation lock, writes an audit entry (success or failure), and leaves nothing
 * half-done. Reads never wait on a network call (except `listDomains({refresh: true})`).
 */
export interface TunnelManagerApi {
  requestCname(actor: Actor, request: CnameRequest): Promise<CnameResult>;
  /**
   * Deletes one route: the hostname's path-less route, or with `path` the route at that path.
   * Only its rule goes; the DNS record goes with the hostname's last route.
   */
  deleteCname(actor: Actor, hostname: string, options?: DeleteOptions): Promise<DeleteResult>;
  listCnames(actor: Actor, filter?: CnameListFilter): Promise<CnameRoute[]>;
  listDomains(actor: Actor, options?: { readonly refresh?: boolean }): Promise<DomainView[]>;
  getStatus(actor: Actor): Promise<StatusReport>;
  /** Admin only. */
  queryAudit(actor: Actor, query?: AuditQuery): Promise<AuditEntry[]>;
}
