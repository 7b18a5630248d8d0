import { ADMIN_OWNER } from '../domain/actor.js';
import type { Domain } from '../domain/domain.js';
import type { InstanceIdentity } from '../domain/instance.js';
import { classifyRecord, isOurs, siblingInstanceId, siblingTakenError } from '../domain/ownership.js';
import { type CnameRoute, FINAL_ROUTE_STATES, RELEASED_ROUTE_STATES } from '../domain/route.js';
import { sameOriginSettings } from '../domain/route-options.js';
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
  /** The owner's route gets a new target, path or origin settings (one rule change, no DNS change). */
  | { readonly kind: 'retarget'; readonly route: CnameRoute }
  /**
   * A new route; `replace` holds the records an admin adopts, `reuse` our record a crash left,
   * `shareWith` a live route of the same hostname (another path) whose DNS record it shares.
   */
  | {
      readonly kind: 'create';
      readonly replace: readonly DnsRecord[];
      readonly reuse: DnsRecord | null;
      readonly shareWith?: CnameRoute | null;
    };

export interface DecideDeps {
  readonly routes: Pick<RouteRepository, 'listLive' | 'list'>;
  readonly ingress: Pick<IngressManager, 'read'>;
  readonly dns: () => DnsProvider;
  readonly tunnelTarget: () => string;
  readonly identity: () => InstanceIdentity;
  /** Brings a route a crash left mid-pipeline to a final state (under the lock). */
  readonly recover: (route: CnameRoute, guard: LockGuard) => Promise<unknown>;
}

const at = (path: string | null): string => (path === null ? '' : ` path ${path}`);

function takenError(v: ValidatedCnameRequest, name: string, holder: CnameRoute, why?: string): TunnelError {
  const asAdmin = v.actor.kind === 'admin';
  return new TunnelError(
    'HOSTNAME_TAKEN',
    `${name} is already held by ${asAdmin ? holder.owner : 'another project'}${why ? ` (${why})` : ''}.`,
    {
      hint: asAdmin
        ? `Pass project: "${holder.owner}" to change it on its owner's behalf, or delete it first.`
        : 'Pick another hostname; an admin can release this one. A hostname (all its paths) has one owner.',
      details: { hostname: name, ...(asAdmin ? { owner: holder.owner } : {}) },
    },
  );
}

/**
 * A project's wildcard owns the names below it: another project may not take one of them, and a
 * project may not take a wildcard over another owner's names. Admin wildcards (`@admin`) are a
 * fallback and block nobody.
 */
async function assertNoWildcardClash(deps: DecideDeps, v: ValidatedCnameRequest, zoneId: string): Promise<void> {
  const name = v.hostname.value;
  const live = (await deps.routes.list({ zoneId })).filter((r) => !RELEASED_ROUTE_STATES.has(r.state));
  for (const r of live) {
    if (r.owner === v.owner || r.hostname === name) continue;
    const theirs = r.hostname.startsWith('*.') && r.owner !== ADMIN_OWNER && name.endsWith(r.hostname.slice(1));
    const ours = v.hostname.isWildcard && v.owner !== ADMIN_OWNER && r.hostname.endsWith(name.slice(1));
    if (theirs) throw takenError(v, name, r, `it is below the wildcard ${r.hostname}`);
    if (ours) throw takenError(v, r.hostname, r, `the wildcard ${name} would cover it`);
  }
}

/**
 * Decides what a validated request does: refuses a name another owner holds at any path
 * (`HOSTNAME_TAKEN`: one hostname, one owner), or another Tunnel Manager instance publishes
 * (`HOSTNAME_TAKEN`, unless an admin adopts it with `fromInstance` naming that instance), or that
 * a record the manager does not own holds (`RECORD_CONFLICT`, unless an admin adopts), and otherwise says whether to create (a new
 * hostname, or a new path of the owner's hostname, sharing its record), retarget or do nothing.
 * Runs under the lock; without it (`guard` null, a dry run) a route a crash left behind is taken
 * as already recovered.
 */
export async function decide(
  deps: DecideDeps,
  v: ValidatedCnameRequest,
  zone: Pick<Domain, 'id'>,
  selection: TargetSelection,
  guard: LockGuard | null,
): Promise<Decision> {
  const name = v.hostname.value;
  let hostRoutes = await deps.routes.listLive(name);
  if (hostRoutes.some((r) => !FINAL_ROUTE_STATES.has(r.state))) {
    if (guard) {
      for (const r of hostRoutes) if (!FINAL_ROUTE_STATES.has(r.state)) await deps.recover(r, guard);
      hostRoutes = await deps.routes.listLive(name);
    } else {
      hostRoutes = hostRoutes.filter((r) => FINAL_ROUTE_STATES.has(r.state));
    }
  }
  const stuck = hostRoutes.find((r) => !FINAL_ROUTE_STATES.has(r.state));
  if (stuck) {
    throw new TunnelError(
      'CONCURRENT_CHANGE',
      `${name} is left half-done by an interrupted change that could not be recovered yet.`,
      {
        hint: 'Retry in a moment; if it persists, run `tunnel recover` and check the provider is reachable.',
        details: { hostname: name, state: stuck.state },
      },
    );
  }
  const foreign = hostRoutes.find((r) => r.owner !== v.owner);
  if (foreign) throw takenError(v, name, foreign);
  if (v.fromPath !== undefined && v.fromPath !== v.path) {
    const source = hostRoutes.find((r) => r.path === v.fromPath);
    if (!source) {
      throw new TunnelError('NOT_FOUND', `There is no route for ${name}${at(v.fromPath)} to re-target.`, {
        hint: 'List your routes to see the paths you hold; leave fromPath out to add a new path.',
        details: { hostname: name, fromPath: v.fromPath },
      });
    }
    const clash = hostRoutes.find((r) => r.path === v.path);
    if (clash) {
      throw new TunnelError('HOSTNAME_TAKEN', `${name} already has your route${at(v.path)}.`, {
        hint: 'Delete that route first, or re-target it instead.',
        details: { hostname: name, path: v.path },
      });
    }
    await assertRuleFits(deps, v, selection);
    return { kind: 'retarget', route: source };
  }
  const live = hostRoutes.find((r) => r.path === v.path);
  if (live) {
    const same =
      live.target === selection.url &&
      live.service.container === v.service.container &&
      live.service.port === v.service.port &&
      live.service.scheme === v.service.scheme &&
      sameOriginSettings(live.originRequest, v.originRequest);
    if (!same) await assertRuleFits(deps, v, selection);
    return { kind: same ? 'unchanged' : 'retarget', route: live };
  }
  await assertNoWildcardClash(deps, v, zone.id);
  await assertRuleFits(deps, v, selection);
  const shareWith = hostRoutes.find((r) => r.dnsRecordId !== null) ?? hostRoutes[0];
  if (shareWith) return { kind: 'create', replace: [], reuse: null, shareWith };
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
  planUpsert(
    rules,
    {
      hostname: v.hostname.value,
      ...(v.path ? { path: v.path } : {}),
      service: selection.url,
      managed: { owner: v.owner, instance: deps.identity().id },
    },
    v.fromPath === undefined ? undefined : (v.fromPath ?? ''),
  );
}

/** The steps a decision takes, one human line each (a dry run's plan, and a result's record). */
export function plannedSteps(
  v: ValidatedCnameRequest,
  selection: TargetSelection,
  decision: Decision,
  options: { readonly restartNeeded: boolean; readonly tunnelTarget: string },
): PlannedStep[] {
  const name = `${v.hostname.value}${at(v.path)}`;
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
        summary: `change ingress rule ${name} → ${selection.url}${originText(v)} (was ${v.hostname.value}${at(decision.route.path)} → ${decision.route.target}); no DNS change`,
      },
      ...restart,
    ];
  }
  const cname = `CNAME ${v.hostname.value} → ${options.tunnelTarget} (proxied, marked for ${v.owner})`;
  const dns: PlannedStep = decision.shareWith
    ? {
        step: 'create_dns',
        summary: `share the CNAME of ${v.hostname.value} (record ${decision.shareWith.dnsRecordId ?? 'pending'}); no DNS change`,
      }
    : decision.replace.length > 0
      ? {
          step: 'replace_dns',
          summary: `replace ${decision.replace.map((r) => `${r.type} ${r.content}`).join(', ')} with ${cname}`,
        }
      : decision.reuse
        ? { step: 'create_dns', summary: `reuse the existing ${cname} (record ${decision.reuse.id})` }
        : { step: 'create_dns', summary: `create ${cname}` };
  return [
    { step: 'reserve', summary: `reserve ${name} for ${v.owner}` },
    { step: 'write_ingress', summary: `add ingress rule ${name} → ${selection.url}${originText(v)}` },
    dns,
    ...restart,
    { step: 'activate', summary: `mark ${name} active` },
  ];
}

function originText(v: ValidatedCnameRequest): string {
  const o = v.originRequest;
  if (!o) return '';
  return ` (originRequest ${Object.entries(o)
    .map(([k, x]) => `${k}=${String(x)}`)
    .join(', ')})`;
}
