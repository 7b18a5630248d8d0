import {
  type CnameSpec,
  type DnsBatch,
  type DnsBatchResult,
  type DnsProvider,
  type DnsRecord,
  type ErrorCode,
  formatOwnerMark,
  isTunnelError,
  type MarkChange,
  OWNER_MARK_PREFIX,
  parseOwnerMark,
  type RecordFilter,
  type RecordSpec,
  TunnelError,
  type Zone,
} from '@tunnel/core';
import type { CloudflareApi } from './api.js';
import { type ApiOperation, PERMISSIONS } from './errors.js';
import type { CloudflareClient } from './sdk.js';

/** Cloudflare's comment limit on free zones; the owner mark must fit in it. */
export const MAX_COMMENT_LENGTH = 100;
/** Zones per page: Cloudflare's maximum. */
const ZONES_PER_PAGE = 50;

export interface CloudflareDnsProviderOptions {
  /** Changes per batch call (cloudflare.batchLimit: 200 on free zones, 3,500 on paid). @default 200 */
  readonly batchLimit?: number;
  /** Records per list page; Cloudflare allows very large pages. @default 5000 */
  readonly recordsPerPage?: number;
}

/** A DNS record as the API returns it (the fields the provider reads). */
interface ApiRecord {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly content?: string;
  readonly proxied?: boolean;
  readonly ttl?: number;
  readonly comment?: string | null;
}

interface ApiZone {
  readonly id: string;
  readonly name: string;
  readonly status?: string;
  readonly account?: { readonly id?: string };
}

interface ApiPage<T> {
  readonly result: T[];
  readonly result_info?: { readonly total_pages?: number };
}

interface Chunk {
  readonly deletes: readonly string[];
  readonly remarks: readonly MarkChange[];
  readonly creates: readonly CnameSpec[];
  readonly restores: readonly RecordSpec[];
}

interface Progress {
  readonly deleted: string[];
  readonly remarked: DnsRecord[];
  readonly created: DnsRecord[];
  readonly restored: DnsRecord[];
  readonly failed: Array<{ readonly change: string; readonly error: TunnelError }>;
}

/** Failures that concern one change only: the others can still be applied. */
const PER_CHANGE: readonly ErrorCode[] = ['RECORD_CONFLICT', 'NOT_FOUND', 'INVALID_INPUT'];

const canonical = (name: string) => name.trim().toLowerCase().replace(/\.$/, '');

/**
 * DNS on Cloudflare, through the official SDK. Every record it creates is a proxied CNAME with
 * automatic TTL whose comment is the owner mark (`tunnel-manager:<owner>@<instance>`, ≤ 100
 * characters). A remark is a PATCH of the comment alone; a restore recreates a record as given.
 *
 * - Lists read every page with server-side filters and large pages (few requests for big zones).
 * - `createCname` is idempotent: a conflict, or a retry after a lost answer, first looks the name
 *   up and returns the CNAME carrying the same target and mark instead of creating another.
 * - `applyBatch` sends chunks of at most `batchLimit` changes to `dns_records/batch` (deletes,
 *   then creates, each chunk one transaction). A refused chunk is applied one change at a time,
 *   so a conflict fails only the change that conflicts; a chunk whose answer was lost is checked
 *   against the zone before anything is sent again.
 */
export class CloudflareDnsProvider implements DnsProvider {
  readonly #api: CloudflareApi;
  readonly #batchLimit: number;
  readonly #recordsPerPage: number;

  constructor(api: CloudflareApi, options: CloudflareDnsProviderOptions = {}) {
    this.#api = api;
    this.#batchLimit = options.batchLimit ?? 200;
    this.#recordsPerPage = options.recordsPerPage ?? 5000;
  }

  async listZones(): Promise<Zone[]> {
    const op: ApiOperation = { action: 'list zones', permission: PERMISSIONS.zoneRead, subject: 'none' };
    const zones = await this.#collect<ApiZone>(
      op,
      ZONES_PER_PAGE,
      (client, page) => client.zones.list({ page, per_page: ZONES_PER_PAGE }) as unknown as Promise<ApiPage<ApiZone>>,
    );
    return zones.map((z) => ({
      id: z.id,
      name: canonical(z.name),
      status: z.status ?? 'unknown',
      accountId: z.account?.id ?? null,
    }));
  }

  async listRecords(zoneId: string, filter: RecordFilter = {}): Promise<DnsRecord[]> {
    const op = this.#op(zoneId, `list the DNS records of zone ${zoneId}`, PERMISSIONS.dnsRead);
    const perPage = this.#recordsPerPage;
    const records = await this.#collect<ApiRecord>(
      op,
      perPage,
      (client, page) =>
        client.dns.records.list({
          zone_id: zoneId,
          page,
          per_page: perPage,
          match: 'all',
          ...(filter.type ? { type: filter.type as 'CNAME' } : {}),
          ...(filter.name ? { name: { exact: filter.name } } : {}),
          ...(filter.managedOnly ? { comment: { startswith: OWNER_MARK_PREFIX } } : {}),
        }) as unknown as Promise<ApiPage<ApiRecord>>,
    );
    // The server filters are case-insensitive; the port's are exact.
    return records
      .map((r) => toRecord(zoneId, r))
      .filter(
        (r) =>
          (filter.type === undefined || r.type === filter.type) &&
          (filter.name === undefined || r.name === canonical(filter.name)) &&
          (!filter.managedOnly || r.owner !== null),
      );
  }

  async createCname(zoneId: string, spec: CnameSpec): Promise<DnsRecord> {
    const comment = ownerMark(spec.owner, spec.instance);
    const op = this.#op(zoneId, `create the DNS record ${spec.name}`, PERMISSIONS.dnsEdit);
    let failure: TunnelError | undefined;
    for (let attempt = 0; attempt <= this.#api.maxRetries; attempt++) {
      if (attempt > 0) {
        // The previous create may have landed with its answer lost: look before creating again.
        await this.#api.clock.sleep(this.#api.backoffMs(attempt - 1));
        const mine = await this.#findOwn(zoneId, spec);
        if (mine) return mine;
      }
      try {
        const created = await this.#api.call(
          op,
          (client) =>
            client.dns.records.create({
              zone_id: zoneId,
              type: 'CNAME',
              name: spec.name,
              content: spec.target,
              proxied: true,
              ttl: 1,
              comment,
            }) as unknown as Promise<ApiRecord>,
          { idempotent: false },
        );
        return toRecord(zoneId, created);
      } catch (error) {
        if (isTunnelError(error, 'RECORD_CONFLICT')) {
          const holders = await this.listRecords(zoneId, { name: spec.name });
          const mine = holders.find((r) => isOwn(r, spec));
          if (mine) return mine;
          const holder = holders[0];
          if (holder) throw conflict(spec, holder, error);
          // The holder vanished between the two calls: try again.
          failure = error;
          continue;
        }
        if (!isTunnelError(error, 'PROVIDER_UNAVAILABLE')) throw error;
        failure = error;
      }
    }
    throw failure as TunnelError;
  }

  async deleteRecord(zoneId: string, recordId: string): Promise<void> {
    const op = this.#op(zoneId, `delete the DNS record ${recordId}`, PERMISSIONS.dnsEdit);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#api.call(op, (client) => client.dns.records.delete(recordId, { zone_id: zoneId }), {
          idempotent: false,
        });
        return;
      } catch (error) {
        // After an attempt whose answer was lost, "does not exist" means that attempt deleted it.
        if (attempt > 0 && isTunnelError(error, 'NOT_FOUND')) return;
        if (!isTunnelError(error, 'PROVIDER_UNAVAILABLE') || attempt >= this.#api.maxRetries) throw error;
        await this.#api.clock.sleep(this.#api.backoffMs(attempt));
      }
    }
  }

  async applyBatch(zoneId: string, batch: DnsBatch): Promise<DnsBatchResult> {
    for (const spec of batch.creates) ownerMark(spec.owner, spec.instance);
    for (const change of batch.remarks ?? []) ownerMark(change.owner, change.instance);
    if (new Set(batch.deletes).size !== batch.deletes.length) {
      throw new TunnelError('INVALID_INPUT', 'A DNS batch names the same record twice in its deletes.', {
        hint: 'List each record id once; nothing was changed.',
      });
    }
    const progress: Progress = { deleted: [], remarked: [], created: [], restored: [], failed: [] };
    for (const chunk of this.#chunks(batch)) {
      let result: Omit<Progress, 'failed'> | 'refused' | 'uncertain';
      try {
        result = await this.#sendChunk(zoneId, chunk);
      } catch (error) {
        throw withProgress(error, progress);
      }
      if (result === 'refused' || result === 'uncertain') {
        this.#api.logger.warn('DNS batch chunk not applied as a whole; applying its changes one by one', {
          zoneId,
          changes: sizeOf(chunk),
          reason: result,
        });
        await this.#applySingly(zoneId, chunk, result === 'uncertain', progress);
      } else {
        progress.deleted.push(...result.deleted);
        progress.remarked.push(...result.remarked);
        progress.created.push(...result.created);
        progress.restored.push(...result.restored);
      }
    }
    const first = progress.failed[0];
    if (first) {
      const total = sizeOf({
        deletes: batch.deletes,
        remarks: batch.remarks ?? [],
        creates: batch.creates,
        restores: batch.restores ?? [],
      });
      throw withProgress(
        new TunnelError(
          first.error.code,
          progress.failed.length === 1
            ? first.error.message
            : `${progress.failed.length} of ${total} DNS changes failed; the first: ${first.error.message}`,
          { hint: first.error.hint, cause: first.error, details: first.error.details },
        ),
        progress,
      );
    }
    return {
      deleted: progress.deleted,
      created: progress.created,
      ...(batch.remarks ? { remarked: progress.remarked } : {}),
      ...(batch.restores ? { restored: progress.restored } : {}),
    };
  }

  /** Deletes, remarks, creates, restores, in chunks of at most `batchLimit` changes. */
  *#chunks(batch: DnsBatch): Generator<Chunk> {
    const changes = [
      ...batch.deletes.map((id) => ({ id }) as const),
      ...(batch.remarks ?? []).map((remark) => ({ remark }) as const),
      ...batch.creates.map((spec) => ({ spec }) as const),
      ...(batch.restores ?? []).map((restore) => ({ restore }) as const),
    ];
    for (let start = 0; start < changes.length; start += this.#batchLimit) {
      const slice = changes.slice(start, start + this.#batchLimit);
      yield {
        deletes: slice.flatMap((c) => ('id' in c ? [c.id] : [])),
        remarks: slice.flatMap((c) => ('remark' in c ? [c.remark] : [])),
        creates: slice.flatMap((c) => ('spec' in c ? [c.spec] : [])),
        restores: slice.flatMap((c) => ('restore' in c ? [c.restore] : [])),
      };
    }
  }

  /**
   * One chunk through the batch endpoint. `refused` when Cloudflare answered no for a reason
   * one change may carry (a conflict, a missing record, a limit lower than configured);
   * `uncertain` when the answer was lost and the zone shows the chunk half-applied.
   */
  async #sendChunk(zoneId: string, chunk: Chunk): Promise<Omit<Progress, 'failed'> | 'refused' | 'uncertain'> {
    const op = this.#op(zoneId, `apply a batch of ${sizeOf(chunk)} DNS changes`, PERMISSIONS.dnsEdit);
    const posts = [...chunk.creates.map(cnameBody), ...chunk.restores.map(restoreBody)];
    const send = (client: CloudflareClient) =>
      client.dns.records.batch({
        zone_id: zoneId,
        ...(chunk.deletes.length > 0 ? { deletes: chunk.deletes.map((id) => ({ id })) } : {}),
        ...(chunk.remarks.length > 0
          ? { patches: chunk.remarks.map((m) => ({ id: m.recordId, comment: formatOwnerMark(m.owner, m.instance) })) }
          : {}),
        ...(posts.length > 0 ? { posts } : {}),
      } as never) as unknown as Promise<{ deletes?: ApiRecord[]; patches?: ApiRecord[]; posts?: ApiRecord[] }>;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.#api.call(op, send, { idempotent: false });
        const posted = (result.posts ?? []).map((r) => toRecord(zoneId, r));
        return {
          deleted: (result.deletes ?? []).map((r) => r.id),
          remarked: (result.patches ?? []).map((r) => toRecord(zoneId, r)),
          created: posted.slice(0, chunk.creates.length),
          restored: posted.slice(chunk.creates.length),
        };
      } catch (error) {
        if (isTunnelError(error) && PER_CHANGE.includes(error.code)) return 'refused';
        if (!isTunnelError(error, 'PROVIDER_UNAVAILABLE') || attempt >= this.#api.maxRetries) throw error;
        await this.#api.clock.sleep(this.#api.backoffMs(attempt));
        const seen = await this.#inspect(zoneId, chunk);
        if (seen.state === 'applied') {
          return {
            deleted: [...chunk.deletes],
            remarked: seen.remarked,
            created: seen.created,
            restored: seen.restored,
          };
        }
        if (seen.state === 'partial') return 'uncertain';
        // Nothing of it landed: sending it again is safe.
      }
    }
  }

  /** What the zone shows of a chunk whose answer was lost. */
  async #inspect(
    zoneId: string,
    chunk: Chunk,
  ): Promise<
    | { state: 'applied'; remarked: DnsRecord[]; created: DnsRecord[]; restored: DnsRecord[] }
    | { state: 'absent' | 'partial' }
  > {
    const records = await this.listRecords(zoneId);
    const ids = new Set(records.map((r) => r.id));
    const gone = chunk.deletes.filter((id) => !ids.has(id)).length;
    const remarked = chunk.remarks.map((m) =>
      records.find((r) => r.id === m.recordId && r.comment === formatOwnerMark(m.owner, m.instance)),
    );
    const found = chunk.creates.map((spec) => records.find((r) => isOwn(r, spec)));
    const restored = chunk.restores.map((spec) => records.find((r) => isRestored(r, spec)));
    const done = [...remarked, ...found, ...restored].filter((r) => r !== undefined).length;
    if (gone === chunk.deletes.length && done === chunk.remarks.length + chunk.creates.length + chunk.restores.length) {
      return {
        state: 'applied',
        remarked: remarked as DnsRecord[],
        created: found as DnsRecord[],
        restored: restored as DnsRecord[],
      };
    }
    return gone === 0 && done === 0 ? { state: 'absent' } : { state: 'partial' };
  }

  async #applySingly(zoneId: string, chunk: Chunk, uncertain: boolean, progress: Progress): Promise<void> {
    for (const id of chunk.deletes) {
      try {
        await this.deleteRecord(zoneId, id);
        progress.deleted.push(id);
      } catch (error) {
        if (uncertain && isTunnelError(error, 'NOT_FOUND')) {
          progress.deleted.push(id);
        } else if (isTunnelError(error) && PER_CHANGE.includes(error.code)) {
          progress.failed.push({ change: `delete ${id}`, error });
        } else {
          throw withProgress(error, progress);
        }
      }
    }
    for (const remark of chunk.remarks) {
      try {
        progress.remarked.push(await this.#remark(zoneId, remark));
      } catch (error) {
        if (isTunnelError(error) && PER_CHANGE.includes(error.code)) {
          progress.failed.push({ change: `remark ${remark.recordId}`, error });
        } else {
          throw withProgress(error, progress);
        }
      }
    }
    for (const spec of chunk.creates) {
      try {
        progress.created.push(await this.createCname(zoneId, spec));
      } catch (error) {
        if (isTunnelError(error) && PER_CHANGE.includes(error.code)) {
          progress.failed.push({ change: `create ${spec.name}`, error });
        } else {
          throw withProgress(error, progress);
        }
      }
    }
    for (const spec of chunk.restores) {
      try {
        progress.restored.push(await this.#restore(zoneId, spec, uncertain));
      } catch (error) {
        if (isTunnelError(error) && PER_CHANGE.includes(error.code)) {
          progress.failed.push({ change: `restore ${spec.type} ${spec.name}`, error });
        } else {
          throw withProgress(error, progress);
        }
      }
    }
  }

  /** A PATCH of the comment alone (idempotent: the same comment twice is the same result). */
  async #remark(zoneId: string, change: MarkChange): Promise<DnsRecord> {
    const op = this.#op(zoneId, `mark the DNS record ${change.recordId}`, PERMISSIONS.dnsEdit);
    const record = await this.#api.call(
      op,
      (client) =>
        client.dns.records.edit(change.recordId, {
          zone_id: zoneId,
          comment: formatOwnerMark(change.owner, change.instance),
        } as never) as unknown as Promise<ApiRecord>,
      { idempotent: true },
    );
    return toRecord(zoneId, record);
  }

  /** Recreates a record as given; after a lost answer, an identical record found is the result. */
  async #restore(zoneId: string, spec: RecordSpec, uncertain: boolean): Promise<DnsRecord> {
    if (uncertain) {
      const found = (await this.listRecords(zoneId, { name: spec.name })).find((r) => isRestored(r, spec));
      if (found) return found;
    }
    const op = this.#op(zoneId, `restore the DNS record ${spec.type} ${spec.name}`, PERMISSIONS.dnsEdit);
    const record = await this.#api.call(
      op,
      (client) =>
        client.dns.records.create({ zone_id: zoneId, ...restoreBody(spec) } as never) as unknown as Promise<ApiRecord>,
      { idempotent: false },
    );
    return toRecord(zoneId, record);
  }

  async #findOwn(zoneId: string, spec: CnameSpec): Promise<DnsRecord | undefined> {
    return (await this.listRecords(zoneId, { name: spec.name })).find((r) => isOwn(r, spec));
  }

  /** Every page of a list, without duplicates; stops at the last page without asking past it. */
  async #collect<T extends { id: string }>(
    op: ApiOperation,
    perPage: number,
    fetchPage: (client: CloudflareClient, page: number) => Promise<ApiPage<T>>,
  ): Promise<T[]> {
    const byId = new Map<string, T>();
    for (let page = 1; ; page++) {
      const { result, result_info: info } = await this.#api.call(op, (client) => fetchPage(client, page), {
        idempotent: true,
      });
      const items = result ?? [];
      let fresh = 0;
      for (const item of items) {
        if (!byId.has(item.id)) {
          byId.set(item.id, item);
          fresh += 1;
        }
      }
      // A short page is the last one; so is `total_pages`. A page of nothing new means the
      // listing shifted under us or the server ignores `page`: stop rather than loop.
      if (items.length < perPage || fresh === 0) break;
      if (typeof info?.total_pages === 'number' && page >= info.total_pages) break;
    }
    return [...byId.values()];
  }

  #op(zoneId: string, action: string, permission: ApiOperation['permission']): ApiOperation {
    return { action, permission, subject: 'zone', subjectId: zoneId };
  }
}

/** The comment written on every record: the owner mark, refused when it would not fit. */
export function ownerMark(owner: string, instance: string): string {
  const mark = formatOwnerMark(owner, instance);
  const parsed = parseOwnerMark(mark);
  if (mark.length > MAX_COMMENT_LENGTH || parsed?.owner !== owner || parsed.instance !== instance) {
    throw new TunnelError(
      'INVALID_INPUT',
      `Cannot mark a DNS record as owned by ${JSON.stringify(owner.slice(0, 80))} of instance ${JSON.stringify(String(instance).slice(0, 40))}.`,
      {
        hint: 'The owner is a project name (a–z, 0–9, "-", up to 63 characters) or @admin, the instance an instance id (up to 20 characters); nothing was changed.',
      },
    );
  }
  return mark;
}

const sizeOf = (chunk: Chunk): number =>
  chunk.deletes.length + chunk.remarks.length + chunk.creates.length + chunk.restores.length;

function cnameBody(spec: CnameSpec) {
  return {
    type: 'CNAME' as const,
    name: spec.name,
    content: spec.target,
    proxied: true,
    ttl: 1 as const,
    comment: formatOwnerMark(spec.owner, spec.instance),
  };
}

function restoreBody(spec: RecordSpec) {
  return {
    type: spec.type,
    name: spec.name,
    content: spec.content,
    proxied: spec.proxied,
    ttl: spec.ttl,
    ...(spec.comment === null ? {} : { comment: spec.comment }),
  };
}

function isRestored(record: DnsRecord, spec: RecordSpec): boolean {
  return (
    record.name === canonical(spec.name) &&
    record.type === spec.type &&
    record.content === (spec.type === 'CNAME' ? canonical(spec.content) : spec.content) &&
    record.comment === spec.comment
  );
}

function toRecord(zoneId: string, r: ApiRecord): DnsRecord {
  const comment = r.comment ?? null;
  const mark = parseOwnerMark(comment);
  return {
    id: r.id,
    zoneId,
    name: canonical(r.name),
    type: r.type,
    content: r.type === 'CNAME' ? canonical(r.content ?? '') : (r.content ?? ''),
    proxied: r.proxied === true,
    ttl: r.ttl ?? 1,
    comment,
    owner: mark?.owner ?? null,
    instance: mark?.instance ?? null,
  };
}

/** The CNAME this spec asks for, made by the same instance for the same owner. */
function isOwn(record: DnsRecord, spec: CnameSpec): boolean {
  return (
    record.type === 'CNAME' &&
    record.name === canonical(spec.name) &&
    record.content === canonical(spec.target) &&
    record.owner === spec.owner &&
    record.instance === spec.instance
  );
}

function conflict(spec: CnameSpec, holder: DnsRecord, cause: TunnelError): TunnelError {
  const hint =
    holder.owner === null
      ? `That ${holder.type} record was not created by Tunnel Manager; remove it in the Cloudflare dashboard, or ask an admin to adopt it.`
      : holder.owner === spec.owner
        ? `It is marked as ${spec.owner}'s own but is not the CNAME asked for; delete record ${holder.id} first, or ask for its current target.`
        : `It is marked as owned by ${holder.owner}; ask them or an admin to release it.`;
  return new TunnelError('RECORD_CONFLICT', `${spec.name} already has a ${holder.type} record (${holder.content}).`, {
    hint,
    cause,
    details: {
      recordId: holder.id,
      type: holder.type,
      content: holder.content,
      owner: holder.owner,
      cloudflareCodes: cause.details?.cloudflareCodes,
    },
  });
}

/** The error, with what of the batch did take effect (callers re-plan from fresh state). */
function withProgress(error: unknown, progress: Progress): TunnelError {
  const base = isTunnelError(error)
    ? error
    : new TunnelError('INTERNAL', `Unexpected error in a DNS batch: ${String(error)}`, {
        hint: 'This is a bug in Tunnel Manager; list the records to see what was applied.',
        cause: error,
      });
  return new TunnelError(base.code, base.message, {
    hint: base.hint,
    retryable: base.retryable,
    cause: base.cause ?? base,
    details: {
      ...base.details,
      applied: {
        deleted: [...progress.deleted],
        remarked: progress.remarked.map((r) => r.id),
        created: progress.created.map((r) => ({ id: r.id, name: r.name })),
        restored: progress.restored.map((r) => ({ id: r.id, name: r.name })),
      },
      ...(progress.failed.length > 0
        ? {
            failed: progress.failed.map((f) => ({
              change: f.change,
              code: f.error.code,
              message: f.error.message,
              ...(f.error.details?.recordId ? { recordId: f.error.details.recordId } : {}),
            })),
          }
        : {}),
    },
  });
}
