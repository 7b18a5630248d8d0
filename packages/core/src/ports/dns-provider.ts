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
  /** The instance named by the mark; null without a mark or for a legacy mark (no instance). */
  readonly instance: string | null;
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
  /** The instance writing the record (see `instance.id`); written in the owner mark. */
  readonly instance: string;
}

/** A new owner mark for an existing record (a legacy mark rewritten to name the instance). */
export interface MarkChange {
  readonly recordId: string;
  readonly owner: string;
  readonly instance: string;
}

/** A record put back exactly as it was (what an adopt replaced), comment included. */
export interface RecordSpec {
  readonly name: string;
  readonly type: string;
  readonly content: string;
  readonly proxied: boolean;
  readonly ttl: number;
  readonly comment: string | null;
}

export interface DnsBatch {
  /** Record ids to delete; applied first. */
  readonly deletes: readonly string[];
  /** Records whose comment becomes a new owner mark; applied after the deletes. */
  readonly remarks?: readonly MarkChange[];
  /** CNAMEs to create; applied after every delete and remark. */
  readonly creates: readonly CnameSpec[];
  /** Records to put back as given; applied with the creates. */
  readonly restores?: readonly RecordSpec[];
}

export interface DnsBatchResult {
  readonly deleted: readonly string[];
  readonly created: readonly DnsRecord[];
  /** The remarked records, as they are now (absent when the batch had no remarks). */
  readonly remarked?: readonly DnsRecord[];
  /** The restored records (absent when the batch had no restores). */
  readonly restored?: readonly DnsRecord[];
}

/**
 * DNS at a provider (Cloudflare). Knows nothing of projects except the owner mark it writes.
 * Whose a record is, is decided by core (`classifyRecord`), never here.
 *
 * Implementations:
 * - must return every zone and every matching record, across all pages, without duplicates,
 *   each with the `owner` and `instance` its mark names (`parseOwnerMark`);
 * - must create CNAMEs proxied, with automatic TTL, carrying `formatOwnerMark(owner, instance)`
 *   in the record's comment, and must refuse a spec whose mark would not fit in 100 characters;
 * - must never modify or replace a record they were not asked to touch: a record another
 *   instance marked is touched only when core names its id in a delete, remark or restore;
 * - must change only the comment of a remarked record (its id, name, type, content, proxied and
 *   TTL stay as they are);
 * - must recreate a restored record with exactly the given fields and no mark of their own;
 * - must not treat a record carrying another instance's mark, or a legacy mark, as the CNAME a
 *   retried create asked for: only the exact same mark is "the same create";
 * - must fail `createCname` with `RECORD_CONFLICT` (details: `recordId`, `type`, `content`,
 *   `owner`) when any record already holds the name — except that a CNAME with the same name,
 *   target and owner mark (a retry after a lost response) is returned as the result instead of
 *   being duplicated;
 * - must fail `deleteRecord` with `NOT_FOUND` for an id that does not exist;
 * - must apply a batch's deletes, then its remarks, then its creates and restores; on failure,
 *   throw a TunnelError whose
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
