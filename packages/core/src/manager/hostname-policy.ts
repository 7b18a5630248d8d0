import type { TunnelConfig } from '../config/schema.js';
import type { Actor } from '../domain/actor.js';
import type { Zone } from '../domain/domain.js';
import { Hostname } from '../domain/hostname.js';
import { TunnelError } from '../errors.js';

/** A deny-list entry: an exact name, or `*.zone` for every name below `zone`. */
interface DenyEntry {
  readonly text: string;
  /** The exact name, or the zone below which every name is denied. */
  readonly name: string;
  readonly below: boolean;
}

function parseDenyList(entries: readonly string[]): DenyEntry[] {
  return entries.map((text) => {
    const parsed = Hostname.tryParse(text, { allowWildcard: true });
    if (!parsed) {
      throw new TunnelError('CONFIG_INVALID', `policy.denyList has an invalid entry ${JSON.stringify(text)}.`, {
        hint: 'Each entry is a hostname (`admin.example.com`) or a pattern for every name below a zone (`*.internal.example.com`).',
        details: { entry: text },
      });
    }
    return parsed.isWildcard
      ? { text, name: parsed.value.slice(2), below: true }
      : { text, name: parsed.value, below: false };
  });
}

/**
 * What projects may publish: never a zone apex, never a deny-listed name, and a wildcard only in
 * a zone `policy.wildcardZones` lists (never `*.<zone>` itself). Admins are not bound by it
 * (quota is the state store's job, at reservation).
 */
export class HostnamePolicy {
  readonly #deny: readonly DenyEntry[];
  readonly #wildcardZones: readonly string[];

  /** @throws TunnelError `CONFIG_INVALID` for a deny-list entry that is not a hostname or `*.zone` pattern. */
  constructor(
    policy: Pick<TunnelConfig['policy'], 'denyList'> & Partial<Pick<TunnelConfig['policy'], 'wildcardZones'>>,
  ) {
    this.#deny = parseDenyList(policy.denyList);
    this.#wildcardZones = (policy.wildcardZones ?? []).map((zone) => {
      const parsed = Hostname.tryParse(zone);
      if (!parsed) {
        throw new TunnelError('CONFIG_INVALID', `policy.wildcardZones has an invalid zone ${JSON.stringify(zone)}.`, {
          hint: 'Each entry is a zone name such as "example.com".',
          details: { entry: zone },
        });
      }
      return parsed.value;
    });
  }

  /** The deny-list entry that covers `hostname`, if any. */
  deniedBy(hostname: Hostname): string | null {
    const name = hostname.isWildcard ? hostname.value.slice(2) : hostname.value;
    for (const entry of this.#deny) {
      if (entry.below ? name.endsWith(`.${entry.name}`) : name === entry.name) return entry.text;
      // A wildcard request takes every name below it, so it is denied when any of them is.
      if (hostname.isWildcard && (entry.name === name || entry.name.endsWith(`.${name}`))) return entry.text;
    }
    return null;
  }

  /** @throws TunnelError `POLICY_DENIED` with the rule that refused it. */
  assertAllowed(actor: Actor, hostname: Hostname, zone: Pick<Zone, 'name'>): void {
    if (actor.kind === 'admin') return;
    if (hostname.isWildcard) {
      if (!this.#wildcardZones.includes(zone.name)) {
        throw denied(
          hostname,
          `projects may not take wildcard names in ${zone.name} (policy.wildcardZones)`,
          'Ask for a concrete name such as "app.<zone>", or ask the operator to list the zone in policy.wildcardZones.',
        );
      }
      if (hostname.value === `*.${zone.name}`) {
        throw denied(
          hostname,
          `it takes every name of zone ${zone.name}`,
          `Ask for a wildcard below a name you use, e.g. "*.team.${zone.name}"; only an admin may take *.${zone.name}.`,
        );
      }
    }
    if (hostname.isApexOf(zone.name)) {
      throw denied(
        hostname,
        `it is the apex of zone ${zone.name}`,
        `Ask for a name below it, e.g. "app.${zone.name}"; only an admin may publish a zone apex.`,
      );
    }
    const rule = this.deniedBy(hostname);
    if (rule !== null) {
      throw denied(
        hostname,
        `the deny list (policy.denyList) reserves it (${rule})`,
        'Pick another name; the operator keeps these names for themselves.',
        { rule },
      );
    }
  }

  /** Whether a project may create anything in `zone`, and why not. Admins may use every active zone. */
  usability(actor: Actor, zone: Pick<Zone, 'name' | 'status'>): { usable: boolean; reason: string | null } {
    if (zone.status !== 'active') {
      return { usable: false, reason: `The zone is ${zone.status} at the provider; it serves no DNS yet.` };
    }
    if (actor.kind === 'project') {
      const all = this.#deny.find((e) => e.below && (zone.name === e.name || zone.name.endsWith(`.${e.name}`)));
      if (all) return { usable: false, reason: `Every name below it is on the deny list (${all.text}).` };
    }
    return { usable: true, reason: null };
  }
}

function denied(hostname: Hostname, why: string, hint: string, details: Record<string, unknown> = {}): TunnelError {
  return new TunnelError('POLICY_DENIED', `${hostname.value} cannot be published: ${why}.`, {
    hint,
    details: { hostname: hostname.value, ...details },
  });
}
