import { type ErrorCode, toTunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { StateStore } from '../ports/state-store.js';

/** The audit actions the TunnelManager writes. */
export const AUDIT_ACTIONS = {
  request: 'cname.request',
  delete: 'cname.delete',
  stepFailed: 'cname.step_failed',
  recover: 'cname.recover',
  reconcile: 'reconcile.apply',
  upgradeMarks: 'marks.upgrade',
  /** A first managed rule created the ingress list (with a catch-all) on a configuration that had none. */
  ingressListCreated: 'ingress.list_created',
} as const;

/** Strings longer than this are cut in audit parameters (hostile input can be megabytes). */
const MAX_STRING = 256;
const MAX_DEPTH = 4;
const MAX_KEYS = 32;

/** Cuts untrusted input down to a bounded, JSON-safe shape. */
export function boundedParams(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function') return `[${typeof value}]`;
  if (value === undefined) return null;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.slice(0, MAX_KEYS).map((v) => boundedParams(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, MAX_KEYS)) {
    if (v !== undefined) out[k.slice(0, 64)] = boundedParams(v, depth + 1);
  }
  return out;
}

export interface AuditRecord {
  readonly actor: string;
  readonly project: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly params: Record<string, unknown>;
  /** Epoch ms the operation began; the duration is measured from it. */
  readonly startedAt: number;
  /** Set when the operation failed. */
  readonly error?: unknown;
  /** A message for a successful operation. */
  readonly message?: string;
}

/**
 * Writes audit entries. An entry that cannot be written is logged, never thrown: the operation
 * it describes has already happened (or failed) and its caller must learn that, not an audit error.
 */
export class AuditTrail {
  constructor(
    private readonly store: Pick<StateStore, 'audit'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async record(entry: AuditRecord): Promise<void> {
    const error = entry.error === undefined ? null : toTunnelError(entry.error);
    const target = entry.target === null ? null : (boundedParams(entry.target) as string);
    try {
      await this.store.audit.append({
        at: entry.startedAt,
        actor: entry.actor,
        project: entry.project,
        action: entry.action,
        target,
        params: boundedParams(entry.params) as Record<string, unknown>,
        outcome: error ? 'error' : 'ok',
        errorCode: (error?.code ?? null) as ErrorCode | null,
        message: error ? error.message.slice(0, 1000) : (entry.message ?? null),
        durationMs: Math.max(0, Math.round(this.clock.now() - entry.startedAt)),
      });
    } catch (failure) {
      this.logger.error('could not write an audit entry', {
        action: entry.action,
        target,
        error: String(failure),
      });
    }
  }
}
