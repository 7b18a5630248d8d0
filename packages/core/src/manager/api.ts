import type { Actor } from '../domain/actor.js';
import type { AuditEntry, AuditQuery } from '../domain/audit.js';
import type { Domain } from '../domain/domain.js';
import type { HealthSample, HealthStatus, ProcessState, TunnelApiStatus } from '../domain/health.js';
import type { CnameRoute, RouteState, ServiceScheme } from '../domain/route.js';
import type { LabelProblem } from '../ports/state-store.js';

/*
 * The façade every front-end uses (MCP tools, CLI commands, library callers). Front-ends
 * authenticate and pass an Actor; everything else — validation, policy, ownership, locking,
 * audit — happens behind these methods. All results are plain serialisable data.
 */

/** What a caller asks to publish. */
export interface CnameRequest {
  /** A full hostname, e.g. `app.example.com`. Either this or `subdomain`. */
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
  /**
   * Admin only: put back the records an adopt replaced when the route was created (type,
   * content, proxied, TTL and comment as they were). @default false
   */
  readonly restoreReplaced?: boolean;
}

export interface DeleteResult {
  readonly hostname: string;
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
  deleteCname(actor: Actor, hostname: string, options?: DeleteOptions): Promise<DeleteResult>;
  listCnames(actor: Actor, filter?: CnameListFilter): Promise<CnameRoute[]>;
  listDomains(actor: Actor, options?: { readonly refresh?: boolean }): Promise<DomainView[]>;
  getStatus(actor: Actor): Promise<StatusReport>;
  /** Admin only. */
  queryAudit(actor: Actor, query?: AuditQuery): Promise<AuditEntry[]>;
}
