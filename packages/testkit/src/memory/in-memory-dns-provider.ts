import { randomBytes } from 'node:crypto';
import {
  type CnameSpec,
  type DnsBatch,
  type DnsBatchResult,
  type DnsProvider,
  type DnsRecord,
  formatOwnerMark,
  parseOwnerMark,
  type RecordFilter,
  TunnelError,
  type Zone,
} from '@tunnel/core';

/** A record to plant in a zone, as if someone else had made it. */
export interface SeedRecord {
  readonly type: string;
  readonly name: string;
  readonly content: string;
  readonly comment?: string | null;
  readonly proxied?: boolean;
}

const newId = () => randomBytes(16).toString('hex');

/**
 * A DnsProvider held in memory, with Cloudflare's rules where the manager depends on them:
 * a CNAME shares its name with no other record; a retried identical create returns the
 * existing record; unknown ids are NOT_FOUND; a batch applies deletes before creates and is all
 * or nothing. Passes the DnsProvider conformance suite.
 */
export class InMemoryDnsProvider implements DnsProvider {
  readonly #zones = new Map<string, Zone>();
  readonly #records = new Map<string, DnsRecord[]>();
  /** Every call, for tests that assert "nothing was touched". */
  readonly calls: Array<{ method: string; args: unknown[] }> = [];

  constructor(zones: readonly Zone[] = []) {
    for (const zone of zones) this.addZone(zone);
  }

  addZone(zone: Zone): void {
    this.#zones.set(zone.id, zone);
    if (!this.#records.has(zone.id)) this.#records.set(zone.id, []);
  }

  /** Plants a record directly, bypassing the rules (like a record made in the dashboard). */
  seedRecord(zoneId: string, seed: SeedRecord): DnsRecord {
    const record: DnsRecord = {
      id: newId(),
      zoneId,
      name: seed.name,
      type: seed.type,
      content: seed.content,
      proxied: seed.proxied ?? false,
      ttl: 1,
      comment: seed.comment ?? null,
      ...markOf(seed.comment ?? null),
    };
    this.#zoneRecords(zoneId).push(record);
    return record;
  }

  /** Every record of a zone (a copy). */
  records(zoneId: string): DnsRecord[] {
    return [...this.#zoneRecords(zoneId)];
  }

  async listZones(): Promise<Zone[]> {
    this.calls.push({ method: 'listZones', args: [] });
    return [...this.#zones.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async listRecords(zoneId: string, filter: RecordFilter = {}): Promise<DnsRecord[]> {
    this.calls.push({ method: 'listRecords', args: [zoneId, filter] });
    return this.#zoneRecords(zoneId).filter(
      (r) =>
        (filter.type === undefined || r.type === filter.type) &&
        (filter.name === undefined || r.name === filter.name) &&
        (!filter.managedOnly || r.owner !== null),
    );
  }

  async createCname(zoneId: string, spec: CnameSpec): Promise<DnsRecord> {
    this.calls.push({ method: 'createCname', args: [zoneId, spec] });
    const records = this.#zoneRecords(zoneId);
    const record = this.#checkCreate(records, zoneId, spec);
    if (record.existing) return record.existing;
    records.push(record.fresh);
    return record.fresh;
  }

  async deleteRecord(zoneId: string, recordId: string): Promise<void> {
    this.calls.push({ method: 'deleteRecord', args: [zoneId, recordId] });
    const records = this.#zoneRecords(zoneId);
    const index = records.findIndex((r) => r.id === recordId);
    if (index < 0) throw notFound(recordId);
    records.splice(index, 1);
  }

  async applyBatch(zoneId: string, batch: DnsBatch): Promise<DnsBatchResult> {
    this.calls.push({ method: 'applyBatch', args: [zoneId, batch] });
    // Work on a copy and commit at the end: all or nothing, like Cloudflare's batch endpoint.
    const working = [...this.#zoneRecords(zoneId)];
    for (const id of batch.deletes) {
      const index = working.findIndex((r) => r.id === id);
      if (index < 0) throw notFound(id);
      working.splice(index, 1);
    }
    const remarked: DnsRecord[] = [];
    for (const change of batch.remarks ?? []) {
      const index = working.findIndex((r) => r.id === change.recordId);
      if (index < 0) throw notFound(change.recordId);
      const comment = checkedMark(change.owner, change.instance);
      const record: DnsRecord = { ...(working[index] as DnsRecord), comment, ...markOf(comment) };
      working[index] = record;
      remarked.push(record);
    }
    const created: DnsRecord[] = [];
    for (const spec of batch.creates) {
      const result = this.#checkCreate(working, zoneId, spec);
      const record = result.existing ?? result.fresh;
      if (!result.existing) working.push(record);
      created.push(record);
    }
    const restored: DnsRecord[] = [];
    for (const spec of batch.restores ?? []) {
      const holder = working.find(
        (r) => r.name === spec.name && (r.type === 'CNAME' || spec.type === 'CNAME' || r.type === spec.type),
      );
      if (holder) throw conflict(spec.name, holder);
      const record: DnsRecord = { id: newId(), zoneId, ...spec, ...markOf(spec.comment) };
      working.push(record);
      restored.push(record);
    }
    this.#records.set(zoneId, working);
    return {
      deleted: [...batch.deletes],
      created,
      ...(batch.remarks ? { remarked } : {}),
      ...(batch.restores ? { restored } : {}),
    };
  }

  #zoneRecords(zoneId: string): DnsRecord[] {
    const records = this.#records.get(zoneId);
    if (!records) {
      throw new TunnelError('ZONE_NOT_FOUND', `No zone with id ${zoneId}.`, {
        hint: 'List the zones the token can see and use one of their ids.',
      });
    }
    return records;
  }

  #checkCreate(
    records: readonly DnsRecord[],
    zoneId: string,
    spec: CnameSpec,
  ): { existing: DnsRecord; fresh?: never } | { existing?: never; fresh: DnsRecord } {
    const comment = checkedMark(spec.owner, spec.instance);
    const holder = records.find((r) => r.name === spec.name);
    if (holder) {
      if (holder.type === 'CNAME' && holder.content === spec.target && holder.comment === comment) {
        return { existing: holder };
      }
      throw conflict(spec.name, holder);
    }
    return {
      fresh: {
        id: newId(),
        zoneId,
        name: spec.name,
        type: 'CNAME',
        content: spec.target,
        proxied: true,
        ttl: 1,
        comment,
        owner: spec.owner,
        instance: spec.instance,
      },
    };
  }
}

/** The owner and instance a comment's mark names (both null without a mark). */
function markOf(comment: string | null): { owner: string | null; instance: string | null } {
  const mark = parseOwnerMark(comment);
  return { owner: mark?.owner ?? null, instance: mark?.instance ?? null };
}

/** The mark for a spec, refused (like Cloudflare's comment limit) when it is invalid or too long. */
function checkedMark(owner: string, instance: string): string {
  const mark = formatOwnerMark(owner, instance);
  const parsed = parseOwnerMark(mark);
  if (mark.length > 100 || parsed?.owner !== owner || parsed.instance !== instance) {
    throw new TunnelError(
      'INVALID_INPUT',
      `Cannot mark a DNS record as owned by ${JSON.stringify(owner.slice(0, 80))}.`,
      {
        hint: 'The owner is a project name or @admin, the instance an instance id; nothing was changed.',
      },
    );
  }
  return mark;
}

function conflict(name: string, holder: DnsRecord): TunnelError {
  return new TunnelError('RECORD_CONFLICT', `${name} already has a ${holder.type} record (${holder.content}).`, {
    hint: holder.owner
      ? `It is marked as owned by ${holder.owner}; ask them or an admin to release it.`
      : 'It was not created by Tunnel Manager; remove it in the DNS dashboard, or ask an admin to adopt it.',
    details: { recordId: holder.id, type: holder.type, content: holder.content, owner: holder.owner },
  });
}

function notFound(recordId: string): TunnelError {
  return new TunnelError('NOT_FOUND', `No DNS record with id ${recordId}.`, {
    hint: 'It may have been deleted already; list the records again.',
  });
}
