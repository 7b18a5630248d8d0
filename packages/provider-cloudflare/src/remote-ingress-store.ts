import {
  formatOwnerMark,
  formatRuleMark,
  type IngressOwnerEntry,
  type IngressOwnerRepository,
  type IngressRule,
  type IngressSnapshot,
  type IngressStore,
  type IngressStoreCapabilities,
  isTunnelError,
  parseOwnerMark,
  TunnelError,
  toManaged,
  validateIngressRules,
} from '@tunnel/core';
import type { CloudflareApi } from './api.js';
import { type ApiOperation, PERMISSIONS } from './errors.js';

export interface RemoteIngressStoreOptions {
  readonly accountId: string;
  readonly tunnelId: string;
  /**
   * Where the owner marks of the rules the manager wrote are kept (the state store). The tunnel
   * configuration API keeps rules in cloudflared's own shape (hostname, path, service,
   * originRequest) with no room for a comment, so the marks live beside it, keyed by hostname,
   * path and service: a rule someone edits in the dashboard stops matching and reads back as
   * unmanaged.
   */
  readonly owners: IngressOwnerRepository;
}

/** A rule as the API stores it. */
interface RemoteRule {
  hostname?: string;
  path?: string;
  service: string;
  originRequest?: Record<string, unknown>;
}

interface RemoteConfig {
  readonly version: number;
  readonly config: Record<string, unknown> | null;
}

type OwnerEntry = IngressOwnerEntry;

const keyOf = (rule: { hostname?: string | undefined; path?: string | undefined; service: string }) =>
  JSON.stringify([rule.hostname ?? '', rule.path ?? '', rule.service]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toRemote(rule: IngressRule): RemoteRule {
  return {
    ...(rule.hostname ? { hostname: rule.hostname } : {}),
    ...(rule.path ? { path: rule.path } : {}),
    service: rule.service,
    ...(rule.originRequest && Object.keys(rule.originRequest).length > 0
      ? { originRequest: { ...rule.originRequest } }
      : {}),
  };
}

function fromRemote(raw: unknown): Omit<IngressRule, 'managed'> {
  const rule = isObject(raw) ? raw : {};
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const hostname = text(rule.hostname);
  const path = text(rule.path);
  const originRequest =
    isObject(rule.originRequest) && Object.keys(rule.originRequest).length > 0 ? rule.originRequest : undefined;
  return {
    ...(hostname ? { hostname } : {}),
    ...(path ? { path } : {}),
    service: typeof rule.service === 'string' ? rule.service : '',
    ...(originRequest ? { originRequest } : {}),
  };
}

/**
 * The ingress rules of a remotely-managed tunnel, over `cfd_tunnel/{id}/configurations`.
 * cloudflared picks a new remote configuration up by itself: no restart
 * (`capabilities.requiresRestart` is false).
 *
 * - The snapshot version is Cloudflare's configuration version. `write` reads it, refuses a
 *   stale `expectedVersion` with CONCURRENT_CHANGE, then replaces the configuration (keeping
 *   its `originRequest`, `warp-routing` and anything else it does not model). Writes from one
 *   process are serialized here; across processes the API offers no compare-and-set, so callers
 *   hold core's mutation lock around read-modify-write (as TunnelManager does).
 * - Rules are validated with core's cloudflared validator before anything is sent.
 * - Owner marks are kept in the state store (`owners`, see its note), written before the
 *   configuration (the union of old and new marks) and trimmed after, so a crash in between
 *   never leaves a rule the manager wrote without its mark.
 */
export class RemoteIngressStore implements IngressStore {
  readonly capabilities: IngressStoreCapabilities = {
    requiresRestart: false,
    backups: false,
    ruleFormat: 'json',
  };
  readonly #api: CloudflareApi;
  readonly #options: RemoteIngressStoreOptions;
  #turn: Promise<unknown> = Promise.resolve();

  constructor(api: CloudflareApi, options: RemoteIngressStoreOptions) {
    this.#api = api;
    this.#options = options;
  }

  async read(): Promise<IngressSnapshot> {
    const [remote, owners] = await Promise.all([this.#fetch(), this.#loadOwners()]);
    return this.#snapshot(remote, owners.entries, owners.warnings, true);
  }

  write(rules: readonly IngressRule[], expectedVersion: string): Promise<IngressSnapshot> {
    const turn = this.#turn.then(() => this.#write(rules, expectedVersion));
    this.#turn = turn.catch(() => undefined);
    return turn;
  }

  async #write(rules: readonly IngressRule[], expectedVersion: string): Promise<IngressSnapshot> {
    const { errors } = validateIngressRules(rules, { format: 'json' });
    if (errors.length > 0) {
      throw new TunnelError(
        'INGRESS_INVALID',
        `Refusing to write invalid ingress rules: ${errors.map((e) => e.message).join('; ')}.`,
        { hint: 'Fix the rules named above; nothing was written.', details: { problems: errors } },
      );
    }
    for (const rule of rules) {
      const managed = rule.managed;
      const parsed = managed ? parseOwnerMark(formatRuleMark(managed)) : null;
      if (managed && (parsed?.owner !== managed.owner || parsed.instance !== (managed.instance ?? null))) {
        throw new TunnelError(
          'INVALID_INPUT',
          `Invalid owner ${JSON.stringify(managed.owner.slice(0, 80))} on a managed rule.`,
          {
            hint: 'A managed rule is owned by a project name or @admin; nothing was written.',
          },
        );
      }
    }
    const current = await this.#fetch();
    if (String(current.version) !== expectedVersion) {
      throw new TunnelError(
        'CONCURRENT_CHANGE',
        `The tunnel configuration changed since version ${expectedVersion} (now ${current.version}).`,
        {
          hint: 'Read the rules again and re-apply your change.',
          details: { expectedVersion, version: current.version },
        },
      );
    }
    const before = await this.#loadOwners();
    const next = rules.flatMap((rule): OwnerEntry[] =>
      rule.managed
        ? [
            {
              hostname: rule.hostname ?? '',
              path: rule.path ?? '',
              service: rule.service,
              owner: rule.managed.owner,
              instance: rule.managed.instance ?? null,
            },
          ]
        : [],
    );
    await this.#saveOwners(unionOwners(before.entries, next));
    const config = { ...(current.config ?? {}), ingress: rules.map(toRemote) };
    let written: RemoteConfig;
    try {
      written = await this.#put(config);
    } catch (error) {
      const landed = isTunnelError(error, 'PROVIDER_UNAVAILABLE') ? await this.#landed(current, config) : null;
      if (!landed) {
        await this.#saveOwners(before.entries).catch(() => undefined);
        throw error;
      }
      written = landed;
    }
    await this.#saveOwners(next);
    if (written.version !== current.version + 1) {
      this.#api.logger.warn('The tunnel configuration was also changed by someone else during this write', {
        tunnelId: this.#options.tunnelId,
        from: current.version,
        to: written.version,
      });
    }
    return this.#snapshot(written, next, [], false);
  }

  /** After a lost answer: the configuration as written, if the PUT did land. */
  async #landed(before: RemoteConfig, config: Record<string, unknown>): Promise<RemoteConfig | null> {
    try {
      const now = await this.#fetch();
      const sent = JSON.stringify((config.ingress as unknown[]).map(fromRemote));
      const seen = JSON.stringify(((now.config?.ingress as unknown[] | undefined) ?? []).map(fromRemote));
      return now.version === before.version + 1 && sent === seen ? now : null;
    } catch {
      return null;
    }
  }

  #op(action: string, edit: boolean): ApiOperation {
    return {
      action,
      permission: edit ? PERMISSIONS.tunnelEdit : PERMISSIONS.tunnelRead,
      subject: 'tunnel',
      subjectId: this.#options.tunnelId,
    };
  }

  async #fetch(): Promise<RemoteConfig> {
    const { accountId, tunnelId } = this.#options;
    const result = (await this.#api.call(
      this.#op(`read the configuration of tunnel ${tunnelId}`, false),
      (client) => client.zeroTrust.tunnels.cloudflared.configurations.get(tunnelId, { account_id: accountId }),
      { idempotent: true },
    )) as { version?: number; config?: unknown };
    return { version: result.version ?? 0, config: isObject(result.config) ? result.config : null };
  }

  async #put(config: Record<string, unknown>): Promise<RemoteConfig> {
    const { accountId, tunnelId } = this.#options;
    const result = (await this.#api.call(
      this.#op(`write the configuration of tunnel ${tunnelId}`, true),
      (client) =>
        client.zeroTrust.tunnels.cloudflared.configurations.update(tunnelId, {
          account_id: accountId,
          config: config as never,
        }),
      { idempotent: false },
    )) as { version?: number; config?: unknown };
    return { version: result.version ?? 0, config: isObject(result.config) ? result.config : null };
  }

  #snapshot(
    remote: RemoteConfig,
    owners: readonly OwnerEntry[],
    warnings: readonly string[],
    checkStored: boolean,
  ): IngressSnapshot {
    const byKey = new Map(owners.map((o) => [keyOf(o), o]));
    const raw = remote.config?.ingress;
    const rules: IngressRule[] = (Array.isArray(raw) ? raw : []).map((r) => {
      const rule = fromRemote(r);
      const mark = byKey.get(keyOf(rule));
      return mark === undefined ? rule : { ...rule, managed: toManaged(mark) };
    });
    const notes = [...warnings];
    if (rules.length === 0) {
      notes.push(
        `Tunnel ${this.#options.tunnelId} has no remote ingress rules yet (configuration version ${remote.version}).`,
      );
    } else if (checkStored) {
      const { errors, warnings: found } = validateIngressRules(rules, { format: 'json' });
      if (errors.length > 0) {
        throw new TunnelError(
          'INGRESS_INVALID',
          `The tunnel's remote configuration is invalid: ${errors.map((e) => e.message).join('; ')}.`,
          {
            hint: 'Fix it in the Cloudflare dashboard (Zero Trust → Networks → Tunnels) or write a corrected rule list; it was not changed.',
            details: { problems: errors, version: remote.version },
          },
        );
      }
      notes.push(...found.map((w) => w.message));
    }
    return { rules, version: String(remote.version), warnings: notes };
  }

  async #loadOwners(): Promise<{ entries: OwnerEntry[]; warnings: string[] }> {
    const entries = await this.#options.owners.list(this.#options.tunnelId);
    const valid = entries.filter((e) => {
      const parsed = parseOwnerMark(formatOwnerMark(e.owner, e.instance));
      return parsed?.owner === e.owner && parsed.instance === e.instance;
    });
    return {
      entries: valid,
      warnings:
        valid.length === entries.length
          ? []
          : [`${entries.length - valid.length} stored owner marks of remote rules are invalid and were ignored.`],
    };
  }

  async #saveOwners(entries: readonly OwnerEntry[]): Promise<void> {
    await this.#options.owners.replace(this.#options.tunnelId, entries);
  }
}

function unionOwners(a: readonly OwnerEntry[], b: readonly OwnerEntry[]): OwnerEntry[] {
  const seen = new Map<string, OwnerEntry>();
  for (const entry of [...a, ...b]) seen.set(`${keyOf(entry)}\u0000${entry.owner}\u0000${entry.instance}`, entry);
  return [...seen.values()];
}
