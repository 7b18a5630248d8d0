import type { ErrorCode } from '../errors.js';

/** One operation (or one failed step of one), as recorded in `audit_log`. */
export interface AuditEntry {
  readonly id: number;
  /** Epoch ms the operation started. */
  readonly at: number;
  /** `admin`, `project:<name>`, or `system` for the daemon's own work. */
  readonly actor: string;
  /** The project concerned (the owner of the route), when there is one. */
  readonly project: string | null;
  /** Dotted name, e.g. `cname.request`, `cname.delete`, `tunnel.restart`, `reconcile.apply`. */
  readonly action: string;
  /** What was acted on, usually a hostname. */
  readonly target: string | null;
  /** The operation's parameters. Never secrets: callers pass only what is safe to keep. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly outcome: 'ok' | 'error';
  readonly errorCode: ErrorCode | null;
  readonly message: string | null;
  readonly durationMs: number;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

export interface AuditQuery {
  readonly project?: string;
  readonly action?: string;
  readonly actor?: string;
  readonly target?: string;
  /** Inclusive lower bound, epoch ms. */
  readonly since?: number;
  /** Exclusive upper bound, epoch ms. */
  readonly until?: number;
  /** @default 100 */
  readonly limit?: number;
}
