import type { Zone } from '../domain/domain.js';

/** A DNS record as a provider reports it. Names are canonical (lower-case punycode, no dot). */
export interface DnsRecord {
  readonly id: string;
  readonly zoneId: string;
  readonly name: string;
  /** `A`, `AAAA`, `CNAME`, `TXT`, … */
  readonly type: string;
  readonly content: string;
  readonly proxied: boolean;
  /** 1 means "automatic". */
  readonly ttl: number;
  readonly comment: string | null;
  /** The owner named by the manager's mark in the comment, or null for records it did not make. */
  readonly owner: string | null;
}

export interface RecordFilter {
  /** Exact record type, e.g. `CNAME`. */
  readonly type?: string;
  /** Exact canonical name. */
  readonly name?: string;
  /** Only records that carry the manager's owner mark. */
  readonly managedOnly?: boolean;
}

/** A proxied CNAME the manager asks for. */
export interface CnameSpec {
  /** Canonical hostname. */
  readonly name: string;
  /** e.g. `<tunnel-id>.cfargotunnel.com`. */
  readonly target: string;
  /** Project name or ADMIN_OWNER; written as the owner mark. */
  readonly owner: string;
}

export interface DnsBatch {
  /** Record ids to delete; applied first. */
  readonly deletes: readonly string[];
  /** CNAMEs to create; applied after every delete. */
  readonly creates: readonly CnameSpec[];
}

export interface DnsBatchResult {
  readonly deleted: readonly string[];
  readonly created: readonly DnsRecord[];
}

/**
 * DNS at a provider (Cloudflare). Knows nothing of projects except the owner mark it writes.
 *
 * Implementations:
 * - must return every zone and every matching record, across all pages, without duplicates;
 * - must create CNAMEs proxied, with automatic TTL, carrying `formatOwnerMark(owner)` in the
 *   record's comment;
 * - must never modify or replace a record they were not asked to touch;
 * - must fail `createCname` with `RECORD_CONFLICT` (details: `recordId`, `type`, `content`,
 *   `owner`) when any record already holds the name — except that a CNAME with the same name,
 *   target and owner mark (a retry after a lost response) is returned as the result instead of
 *   being duplicated;
 * - must fail `deleteRecord` with `NOT_FOUND` for an id that does not exist;
 * - must apply a batch's deletes before its creates; on failure, throw a TunnelError whose
 *   `details.applied` says which changes did take effect (callers re-plan from fresh state);
 * - must map provider failures to codes: `AUTH_FAILED`, `RATE_LIMITED` (details.retryAfterMs),
 *   `PROVIDER_UNAVAILABLE`, `RECORD_CONFLICT`, `NOT_FOUND`, `ZONE_NOT_FOUND`;
 * - must not log credentials.
 */
export interface DnsProvider {
  listZones(): Promise<Zone[]>;
  listRecords(zoneId: string, filter?: RecordFilter): Promise<DnsRecord[]>;
  createCname(zoneId: string, spec: CnameSpec): Promise<DnsRecord>;
  deleteRecord(zoneId: string, recordId: string): Promise<void>;
  applyBatch(zoneId: string, batch: DnsBatch): Promise<DnsBatchResult>;
}

/** The tunnel itself, as the provider's API sees it (used by health checks and `doctor`). */
export interface TunnelInfo {
  readonly id: string;
  readonly name: string;
  readonly status: 'inactive' | 'degraded' | 'healthy' | 'down';
  /** `local`: config.yml is authoritative; `cloudflare`: the remote configuration is. */
  readonly configSource: 'local' | 'cloudflare';
  readonly activeConnections: number;
}

/**
 * Reads the tunnel's status from the provider API.
 *
 * Implementations must not cache for longer than the caller's check interval and must map
 * failures like a DnsProvider does (`NOT_FOUND` for an unknown tunnel).
 */
export interface TunnelStatusSource {
  getTunnel(): Promise<TunnelInfo>;
}
