import { TunnelError } from '../errors.js';
import { deriveInstanceId, type InstanceIdentity } from './instance.js';

/*
 * Whose a DNS record or an ingress rule is. This is the one place the rule is written; every
 * path (request, delete, reconcile, adopt, recover, the ingress manager) asks it:
 *
 * - `mine`: the mark names this instance;
 * - `legacy-mine`: a mark from before instances existed, on a record that points at this
 *   instance's tunnel (or a rule in this instance's own ingress): ours, and rewritten to the new
 *   mark on the next reconcile or write;
 * - `sibling`: the mark names another instance, or is a legacy mark on a record that points
 *   elsewhere — another Tunnel Manager's, on another VM. Never updated, relinked or deleted;
 * - `foreign`: no mark. Nobody's we know of; only an admin's explicit adopt replaces it.
 */

export type Holding =
  | { readonly kind: 'mine'; readonly owner: string }
  | { readonly kind: 'legacy-mine'; readonly owner: string }
  | {
      readonly kind: 'sibling';
      readonly owner: string;
      /** The other instance's id; null for a legacy mark (then `tunnel` says where it points). */
      readonly instance: string | null;
      readonly tunnel: string | null;
    }
  | { readonly kind: 'foreign' };

/** The fields of a DNS record the rule reads. */
export interface MarkedRecord {
  readonly type: string;
  readonly content: string;
  readonly owner: string | null;
  readonly instance: string | null;
}

const TUNNEL_SUFFIX = '.cfargotunnel.com';

/** The tunnel id of a `<id>.cfargotunnel.com` target, or null. */
const tunnelOf = (content: string): string | null =>
  content.endsWith(TUNNEL_SUFFIX) ? content.slice(0, -TUNNEL_SUFFIX.length) : null;

/** Whose a DNS record is, seen from `self`. */
export function classifyRecord(record: MarkedRecord, self: InstanceIdentity): Holding {
  if (record.owner === null) return { kind: 'foreign' };
  const owner = record.owner;
  const elsewhere = tunnelOf(record.content) !== null && record.content !== self.tunnelTarget;
  if (record.instance === self.id) {
    // Our id on a record for another tunnel: another VM was given the same instance id. Its
    // record is still not ours to change.
    return record.type === 'CNAME' && elsewhere
      ? { kind: 'sibling', owner, instance: record.instance, tunnel: tunnelOf(record.content) }
      : { kind: 'mine', owner };
  }
  if (record.instance !== null) {
    return { kind: 'sibling', owner, instance: record.instance, tunnel: tunnelOf(record.content) };
  }
  return record.type === 'CNAME' && record.content === self.tunnelTarget
    ? { kind: 'legacy-mine', owner }
    : { kind: 'sibling', owner, instance: null, tunnel: tunnelOf(record.content) };
}

/**
 * Whose an ingress rule is. Every rule in this instance's ingress (its own `config.yml` or its
 * tunnel's remote configuration) is on its own tunnel, so a legacy mark is ours; a rule marked
 * by another instance (a copied file) is not.
 */
export function classifyRule(
  managed: { readonly owner: string; readonly instance?: string | null } | undefined,
  self: Pick<InstanceIdentity, 'id'>,
): Holding {
  if (!managed) return { kind: 'foreign' };
  if (managed.instance === self.id) return { kind: 'mine', owner: managed.owner };
  if (managed.instance === undefined || managed.instance === null) return { kind: 'legacy-mine', owner: managed.owner };
  return { kind: 'sibling', owner: managed.owner, instance: managed.instance, tunnel: null };
}

/** True for `mine` and `legacy-mine`. */
export const isOurs = (holding: Holding): holding is Extract<Holding, { kind: 'mine' | 'legacy-mine' }> =>
  holding.kind === 'mine' || holding.kind === 'legacy-mine';

/** The other instance in words: `instance "vm-b"`, or the tunnel a legacy mark points at. */
export function describeSibling(holding: Extract<Holding, { kind: 'sibling' }>): string {
  if (holding.instance !== null) return `instance "${holding.instance}"`;
  return holding.tunnel
    ? `an instance of tunnel ${holding.tunnel} (an older version, whose marks name no instance)`
    : 'an instance of an older version (its mark names no instance)';
}

/**
 * The id an admin passes to `--from-instance` to take a sibling's name: its instance id, or for
 * a legacy mark the id derived from the tunnel it points at; null when neither is known.
 */
export function siblingInstanceId(holding: Extract<Holding, { kind: 'sibling' }>): string | null {
  return holding.instance ?? (holding.tunnel ? deriveInstanceId(holding.tunnel) : null);
}

/**
 * The refusal for a name a sibling holds: `HOSTNAME_TAKEN`, naming the other instance (and, for
 * an admin, the owner), with what to do.
 */
export function siblingTakenError(
  hostname: string,
  holding: Extract<Holding, { kind: 'sibling' }>,
  options: { readonly asAdmin: boolean },
): TunnelError {
  const who = describeSibling(holding);
  const from = siblingInstanceId(holding);
  return new TunnelError(
    'HOSTNAME_TAKEN',
    `${hostname} is published by another Tunnel Manager instance (${who})${
      options.asAdmin ? ` for ${holding.owner}` : ''
    }, on another VM sharing this zone.`,
    {
      hint: options.asAdmin
        ? `Pick another hostname, delete it on the VM of ${who}${
            from
              ? `, or move it here on purpose with \`tunnel cname add ${hostname} … --adopt --from-instance ${from}\``
              : ''
          }.`
        : `Pick another hostname; the name belongs to ${who}. An admin can move it to this VM on purpose.`,
      details: {
        hostname,
        instance: holding.instance,
        ...(holding.tunnel ? { tunnel: holding.tunnel } : {}),
        ...(options.asAdmin ? { owner: holding.owner } : {}),
      },
    },
  );
}
