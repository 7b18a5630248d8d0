import type { Domain } from '../domain/domain.js';
import type { InstanceIdentity } from '../domain/instance.js';
import { classifyRecord, isOurs, siblingInstanceId, siblingTakenError } from '../domain/ownership.js';
import { type CnameRoute, FINAL_ROUTE_STATES } from '../domain/route.js';
import { TunnelError } from '../errors.js';
import { type IngressManager, planUpsert } from '../ingress/ingress-manager.js';
import type { DnsProvider, DnsRecord } from '../ports/dns-provider.js';
import type { RouteRepository } from '../ports/state-store.js';
import type { TargetSelection } from '../topology/target-selector.js';
import type { PlannedStep } from './api.js';
import type { ValidatedCnameRequest } from './cname-request.js';
import type { LockGuard } from './mutation-lock.js';

/** What a request amounts to against the current state. */
export type Decision =
  /** The owner's route already routes there: nothing to write. */
  | { readonly kind: 'unchanged'; readonly route: CnameRoute }
  /** The owner's route gets a new target. */
  | { readonly kind: 'retarget'; readonly route: CnameRoute }
  /** A new route; `replace` holds the records an admin adopts, `reuse` our record a crash left. */
  | { readonly kind: 'create'; readonly replace: readonly DnsRecord[]; readonly reuse: DnsRecord | null };

export interface DecideDeps {
  readonly routes: Pick<RouteRepository, 'findLive'>;
  readonly ingress: Pick<IngressManager, 'read'>;
  readonly dns: () => DnsProvider;
  readonly tunnelTarget: () => string;
  readonly identity: () => InstanceIdentity;
  /** Brings a route a crash left mid-pipeline to a final state (under the lock). */
  readonly recover: (route: CnameRoute, guard: LockGuard) => Promise<unknown>;
}

/**
 * Decides what a validated request does: refuses a name another owner holds, or another
 * Tunnel Manager instance publishes (`HOSTNAME_TAKEN`, unless an admin adopts it with
 * `fromInstance` naming that instance), or that a record the manager does not own holds
 * (`RECORD_CONFLICT`, unless an admin adopts),
 * and otherwise says whether to create, retarget or do nothing. Runs under the lock; without it
 * (`guard` null, a dry run) a route a crash left behind is taken as already recovered.
 */
export async function decide(
  deps: DecideDeps,
  v: ValidatedCnameRequest,
  zone: Pick<Domain, 'id'>,
  selection: TargetSelection,
  guard: LockGuard | null,
): Promise<Decision> {
  const name = v.hostname.value;
  let live = await deps.routes.findLive(name);
  if (live && !FINAL_ROUTE_STATES.has(live.state)) {
    if (guard) {
      await deps.recover(live, guard);
      live = await deps.routes.findLive(name);
    } else {
      live = null;
    }
  }
  if (live && !FINAL_ROUTE_STATES.has(live.state)) {
    throw new TunnelError(
      'CONCURRENT_CHANGE',
      `${name} is left half-done by an interrupted change that could not be recovered yet.`,
      {
        hint: 'Retry in a moment; if it persists, run `tunnel recover` and check the provider is reachable.',
        details: { hostname: name, state: live.state },
      },
    );
  }
  if (live) {
    if (live.owner !== v.owner) {
      const asAdmin = v.actor.kind === 'admin';
      throw new TunnelError(
        'HOSTNAME_TAKEN',
        `${name} is already held by ${asAdmin ? live.owner : 'another project'}.`,
        {
          hint: asAdmin
            ? `Pass project: "${live.owner}" to change it on its owner's behalf, or delete it first.`
            : 'Pick another hostname; an admin can release this one.',
          details: { hostname: name, ...(asAdmin ? { owner: live.owner } : {}) },
        },
      );
    }
    const same =
      live.target === selection.url &&
      live.service.container === v.service.container &&
      live.service.port === v.service.port &&
      live.service.scheme === v.service.scheme;
    if (!same) await assertRuleFits(deps, v, selection);
    return { kind: same ? 'unchanged' : 'retarget', route: live };
  }
  await assertRuleFits(deps, v, selection);
  const tunnel = deps.tunnelTarget();
  const self = deps.identity();
  const records = await deps.dns().listRecords(zone.id, { name });
  for (const record of records) {
    const holding = classifyRecord(record, self);
    if (holding.kind !== 'sibling') continue;
    const moving = v.adopt && v.fromInstance !== null && v.fromInstance === siblingInstanceId(holding);
    if (!moving) throw siblingTakenError(name, holding, { asAdmin: v.actor.kind === 'admin' });
  }
  const ours = records.filter((r) => {
    const holding = classifyRecord(r, self);
    return r.type === 'CNAME' && r.content === tunnel && isOurs(holding) && holding.owner === v.owner;
  });
  const holder = records.find((r) => !ours.includes(r));
  if (holder) {
    if (v.adopt) return { kind: 'create', replace: records, reuse: null };
    throw new TunnelError(
      'RECORD_CONFLICT',
      `${name} already has a ${holder.type} record (${holder.content}) ${
        holder.owner === null
          ? 'that Tunnel Manager did not create'
          : holder.owner === v.owner
            ? 'marked as yours that is not a CNAME to this tunnel'
            : 'marked by Tunnel Manager for another owner'
      }.`,
      {
        hint:
          v.actor.kind === 'admin'
            ? 'Adopt it explicitly to replace it with the tunnel CNAME (`--adopt` in the CLI, `adopt: true` in the library and MCP), or pick another hostname.'
            : 'Pick another hostname, or ask an admin to adopt the record.',
        details: {
          hostname: name,
          recordId: holder.id,
          type: holder.type,
          content: holder.content,
          owner: holder.owner,
          records: records.length,
        },
      },
    );
  }
  return { kind: 'create', replace: [], reuse: ours[0] ?? null };
}

/**
 * Refuses now what the rule write would refuse later (a rule the manager did not write, or
 * another owner's, for the name: `HOSTNAME_TAKEN`; an earlier rule taking all its requests:
 * `INGRESS_INVALID`), so such a request changes nothing at all.
 */
async function assertRuleFits(deps: DecideDeps, v: ValidatedCnameRequest, selection: TargetSelection): Promise<void> {
  const { rules } = await deps.ingress.read();
  planUpsert(rules, {
    hostname: v.hostname.value,
    service: selection.url,
    managed: { owner: v.owner, instance: deps.identity().id },
  });
}

/** The steps a decision takes, one human line each (a dry run's plan, and a result's record). */
export function plannedSteps(
  v: ValidatedCnameRequest,
  selection: TargetSelection,
  decision: Decision,
  options: { readonly restartNeeded: boolean; readonly tunnelTarget: string },
): PlannedStep[] {
  const name = v.hostname.value;
  const restart: PlannedStep[] = options.restartNeeded
    ? [{ step: 'restart', summary: 'restart cloudflared so it loads the changed ingress rules' }]
    : [];
  if (decision.kind === 'unchanged') {
    return [{ step: 'none', summary: `${name} already routes to ${decision.route.target}; nothing to change` }];
  }
  if (decision.kind === 'retarget') {
    return [
      {
        step: 'update_ingress',
        summary: `change ingress rule ${name} → ${selection.url} (was ${decision.route.target})`,
      },
      ...restart,
    ];
  }
  const cname = `CNAME ${name} → ${options.tunnelTarget} (proxied, marked for ${v.owner})`;
  const dns: PlannedStep =
    decision.replace.length > 0
      ? {
          step: 'replace_dns',
          summary: `replace ${decision.replace.map((r) => `${r.type} ${r.content}`).join(', ')} with ${cname}`,
        }
      : decision.reuse
        ? { step: 'create_dns', summary: `reuse the existing ${cname} (record ${decision.reuse.id})` }
        : { step: 'create_dns', summary: `create ${cname}` };
  return [
    { step: 'reserve', summary: `reserve ${name} for ${v.owner}` },
    { step: 'write_ingress', summary: `add ingress rule ${name} → ${selection.url}` },
    dns,
    ...restart,
    { step: 'activate', summary: `mark ${name} active` },
  ];
}
