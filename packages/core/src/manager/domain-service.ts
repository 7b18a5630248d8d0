import type { Domain } from '../domain/domain.js';
import type { Hostname } from '../domain/hostname.js';
import { TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { DnsProvider } from '../ports/dns-provider.js';
import type { StateStore } from '../ports/state-store.js';

export interface DomainServiceOptions {
  readonly store: Pick<StateStore, 'domains'>;
  /** Resolved on first use: reading stored zones needs no provider (nor its credentials). */
  readonly dns: () => DnsProvider;
  readonly clock: Clock;
  /**
   * `cloudflare.zoneRefreshIntervalMs`: a hostname in no stored zone triggers a refresh only when
   * the stored zones are older than this (so bad input cannot spend the API budget).
   */
  readonly refreshIntervalMs: number;
}

/** The zones the API token can see, as stored, and which one owns a hostname. */
export class DomainService {
  readonly #options: DomainServiceOptions;

  constructor(options: DomainServiceOptions) {
    this.#options = options;
  }

  /** The stored zones (no network). */
  list(): Promise<Domain[]> {
    return this.#options.store.domains.list();
  }

  /** Re-discovers the zones from the provider and replaces the stored set. */
  async refresh(): Promise<Domain[]> {
    const zones = await this.#options.dns().listZones();
    await this.#options.store.domains.replaceAll(zones, this.#options.clock.now());
    return this.list();
  }

  /** The stored zones, discovered first when none ever were. */
  async listOrDiscover(): Promise<Domain[]> {
    const zones = await this.list();
    return zones.length > 0 ? zones : this.refresh();
  }

  /**
   * The most specific active zone `hostname` is in. Zones are discovered when none are stored,
   * and re-discovered on a miss when the stored set is older than the refresh interval.
   *
   * @throws TunnelError `ZONE_NOT_FOUND` naming the usable zones.
   */
  async zoneFor(hostname: Hostname): Promise<Domain> {
    let zones = await this.listOrDiscover();
    let zone = longestMatch(zones, hostname);
    if (!zone) {
      const refreshedAt = Math.min(...zones.map((z) => z.refreshedAt));
      if (this.#options.clock.now() - refreshedAt >= this.#options.refreshIntervalMs) {
        zones = await this.refresh();
        zone = longestMatch(zones, hostname);
      }
    }
    const usable = zones.filter((z) => z.status === 'active').map((z) => z.name);
    const listed = usable.length === 0 ? 'none' : `${usable.slice(0, 10).join(', ')}${usable.length > 10 ? ', …' : ''}`;
    if (!zone) {
      throw new TunnelError('ZONE_NOT_FOUND', `No zone the API token can see holds ${hostname.value}.`, {
        hint: `Use a name in one of the zones: ${listed}.`,
        details: { hostname: hostname.value, zones: usable.slice(0, 50) },
      });
    }
    if (zone.status !== 'active') {
      throw new TunnelError(
        'ZONE_NOT_FOUND',
        `The zone ${zone.name} that holds ${hostname.value} is ${zone.status}, so it serves no DNS yet.`,
        {
          hint: `Finish activating ${zone.name} at Cloudflare, or use a name in an active zone: ${listed}.`,
          details: { hostname: hostname.value, zone: zone.name, status: zone.status },
        },
      );
    }
    return zone;
  }
}

function longestMatch(zones: readonly Domain[], hostname: Hostname): Domain | undefined {
  const name = hostname.isWildcard ? hostname.value.slice(2) : hostname.value;
  let best: Domain | undefined;
  for (const zone of zones) {
    const within = name === zone.name || name.endsWith(`.${zone.name}`);
    if (within && (!best || zone.name.length > best.name.length)) best = zone;
  }
  return best;
}
