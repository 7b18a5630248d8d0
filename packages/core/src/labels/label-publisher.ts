import { Actor } from '../domain/actor.js';
import type { ServiceScheme } from '../domain/route.js';
import { sameOriginSettings } from '../domain/route-options.js';
import type { ContainerInfo, TopologySnapshot } from '../domain/topology.js';
import { toTunnelError } from '../errors.js';
import type { TunnelManagerApi } from '../manager/api.js';
import type { RouteOptionsPolicy } from '../manager/route-options.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { LabelProblem, LabelPublication, StateStore } from '../ports/state-store.js';
import { asksToPublish, type LabelRequest, parseContainerLabels } from './container-labels.js';

/** The actor name label publishing writes into the audit log. */
export const LABELS_ACTOR = 'docker-labels';
/** A refused publication is not retried for the same containers sooner than this. */
const RETRY_AFTER_MS = 60_000;
/** The label Compose puts on every replica of one service; Compose also makes it a network alias. */
const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

export interface LabelPublisherOptions {
  /** The façade: label publishing takes the path an MCP or CLI request takes. */
  readonly manager: Pick<TunnelManagerApi, 'requestCname' | 'deleteCname'>;
  readonly store: Pick<StateStore, 'labels' | 'tokens' | 'routes'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** `docker.labels.gracePeriodMs`. */
  readonly gracePeriodMs: number;
  /** `docker.labels.projects`: when not empty, the only projects labels may publish for. */
  readonly projects: readonly string[];
  /** `policy.caPoolDirs`, so a `tunnel.origin.caPool` label is checked as the façade checks it. */
  readonly routeOptions?: RouteOptionsPolicy;
}

/** What one pass did. */
export interface LabelSyncReport {
  readonly published: string[];
  readonly unpublished: string[];
  readonly problems: Omit<LabelProblem, 'firstSeen' | 'lastSeen' | 'count'>[];
}

type Problem = LabelSyncReport['problems'][number];

interface Wanted {
  readonly request: LabelRequest;
  readonly containers: ContainerInfo[];
  /** The name cloudflared should ask Docker for: the container, or the replicas' alias. */
  readonly target: string;
}

/**
 * Publishes containers that label themselves (`tunnel.hostname`, `tunnel.port`,
 * `tunnel.project`, optional `tunnel.scheme`, `tunnel.path`, `tunnel.origin.<setting>`) through the TunnelManager façade, as the project
 * the labels name and with the audit actor `docker-labels`: the same validation, hostname
 * policy, quota, ownership guard and HOSTNAME_TAKEN as an MCP call.
 *
 * Why here, in core, and not in the Docker provider: it reads only the Topology port's view of
 * containers and labels and calls the façade, like any front-end; nothing in it is Docker's API,
 * so any Topology that reports labels can drive it, and it is tested with plain snapshots and a
 * ManualClock. The daemon runs it on every topology change (the Topology's `onChange`).
 *
 * A publication is one route, keyed by (hostname, path): containers may publish several paths
 * of one hostname (one DNS record, one owner — the façade refuses a second project with
 * HOSTNAME_TAKEN). A label change is the façade's re-target: new port, scheme or origin settings
 * on the same path update the route in place; a container whose path label changed moves its
 * route (`fromPath`): one rule change, no DNS change.
 *
 * Lifecycle: a route stays published while any container asks for it, running or stopped;
 * when the last one is removed it is unpublished only after `gracePeriodMs`, so a redeploy
 * (remove + create) or `docker restart` never drops DNS. Replicas labelled alike (Compose
 * `--scale`) are one hostname, targeted by the alias Docker's DNS answers with all of them.
 * Bad labels and refusals are logged and kept as problems (`tunnel status`), never thrown.
 */
export class LabelPublisher {
  readonly #o: LabelPublisherOptions;
  readonly #log: Logger;
  readonly #routeOptions: RouteOptionsPolicy;
  /** hostname + path + project → the attempt that failed, so one refusal is not re-audited on every event. */
  readonly #failed = new Map<string, { signature: string; at: number; problem: Problem[] }>();
  #running: Promise<LabelSyncReport> | null = null;
  #again: TopologySnapshot | null = null;

  constructor(options: LabelPublisherOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'label-publisher' });
    this.#routeOptions = options.routeOptions ?? { caPoolDirs: [] };
  }

  /**
   * One pass over a snapshot. Passes never overlap: a snapshot that arrives during one is
   * applied right after it (only the newest), and the caller gets that later pass's report.
   */
  sync(snapshot: TopologySnapshot): Promise<LabelSyncReport> {
    if (this.#running) {
      this.#again = snapshot;
      return this.#running.then(() => this.sync(this.#again ?? snapshot));
    }
    this.#again = null;
    this.#running = this.#pass(snapshot).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #pass(snapshot: TopologySnapshot): Promise<LabelSyncReport> {
    const now = this.#o.clock.now();
    const problems: Problem[] = [];
    const published: string[] = [];
    const unpublished: string[] = [];
    if (!snapshot.docker.available) {
      // A blind snapshot says nothing about what exists: never unpublish on it.
      return { published, unpublished, problems };
    }
    const wanted = await this.#wanted(snapshot, problems);
    const kept = new Map((await this.#o.store.labels.listPublications()).map((p) => [routeKey(p), p]));
    const asked = new Set([...wanted.values()].map((w) => routeKey(w.request)));

    for (const [key, w] of wanted) {
      const { hostname, path, originRequest } = w.request;
      const shown = path === null ? hostname : `${hostname} ${path}`;
      const before = kept.get(routeKey(w.request));
      const service = { container: w.target, port: w.request.port, scheme: w.request.scheme };
      const ids = w.containers.map((c) => c.id).sort();
      const same =
        before !== undefined &&
        before.project === w.request.project &&
        JSON.stringify(before.service) === JSON.stringify(service) &&
        sameOriginSettings(before.originRequest, originRequest) &&
        JSON.stringify([...before.containers].sort()) === JSON.stringify(ids);
      if (same && (await this.#isLive(hostname, path, w.request.project))) {
        if (before.missingSince !== null) await this.#save({ ...before, missingSince: null, updatedAt: now });
        continue;
      }
      // A stopped container keeps what it published; it is not (re)published while stopped.
      if (before && !w.containers.some((c) => c.state === 'running')) {
        await this.#save({ ...before, containers: ids, missingSince: null, updatedAt: now });
        continue;
      }
      // A path label changed: the route this target published at a path nobody asks for any
      // more moves to the new path (the façade's re-target), rather than a new route plus a
      // delete after the grace period. Only a live route moves: one deleted by hand meanwhile
      // is left to the unpublish loop (NOT_FOUND), and the new path is created.
      const candidate =
        before === undefined
          ? [...kept.values()].find(
              (p) =>
                p.hostname === hostname &&
                p.project === w.request.project &&
                p.service.container === w.target &&
                !asked.has(routeKey(p)),
            )
          : undefined;
      const moved =
        candidate && (await this.#isLive(candidate.hostname, candidate.path, candidate.project))
          ? candidate
          : undefined;
      const signature = JSON.stringify([w.request, service, ids, moved?.path]);
      const failed = this.#failed.get(key);
      if (failed && failed.signature === signature && now - failed.at < RETRY_AFTER_MS) {
        problems.push(...failed.problem);
        continue;
      }
      try {
        const result = await this.#o.manager.requestCname(Actor.project(w.request.project, LABELS_ACTOR), {
          hostname,
          service: { container: w.target, port: w.request.port, scheme: w.request.scheme as ServiceScheme },
          path,
          originRequest,
          ...(moved ? { fromPath: moved.path } : {}),
        });
        this.#failed.delete(key);
        if (moved) {
          await this.#o.store.labels.removePublication(moved.hostname, moved.path);
          kept.delete(routeKey(moved));
        }
        await this.#save({
          hostname,
          path,
          project: w.request.project,
          service,
          originRequest,
          containers: ids,
          missingSince: null,
          updatedAt: now,
        });
        if (result.outcome !== 'unchanged') published.push(shown);
        this.#log.info('published from container labels', {
          hostname,
          path,
          project: w.request.project,
          target: w.target,
          outcome: result.outcome,
          ...(moved ? { fromPath: moved.path } : {}),
        });
      } catch (error) {
        const e = toTunnelError(error);
        const refused = w.containers.map((c) => ({
          containerId: c.id,
          containerName: c.name,
          project: w.request.project,
          hostname,
          code: e.code,
          message: `${path === null ? '' : `(path ${path}) `}${e.message} ${e.hint}`.trim(),
        }));
        this.#failed.set(key, { signature, at: now, problem: refused });
        problems.push(...refused);
        this.#log.warn('container labels not published', { hostname, path, project: w.request.project, code: e.code });
      }
    }

    // Routes no container asks for any more: unpublished once the grace period is over.
    for (const p of kept.values()) {
      if (asked.has(routeKey(p))) continue;
      const shown = p.path === null ? p.hostname : `${p.hostname} ${p.path}`;
      const since = p.missingSince ?? now;
      if (p.missingSince === null) await this.#save({ ...p, missingSince: now, updatedAt: now });
      if (now - since < this.#o.gracePeriodMs) continue;
      try {
        await this.#o.manager.deleteCname(Actor.project(p.project, LABELS_ACTOR), p.hostname, { path: p.path });
        unpublished.push(shown);
        this.#log.info('unpublished: no container has asked for it for the grace period', {
          hostname: p.hostname,
          path: p.path,
        });
      } catch (error) {
        const e = toTunnelError(error);
        // Already gone (deleted by hand) is what was wanted; anything else is retried next pass.
        if (e.code !== 'NOT_FOUND') {
          this.#log.warn('unpublishing failed; retried on the next pass', {
            hostname: p.hostname,
            path: p.path,
            code: e.code,
          });
          continue;
        }
      }
      await this.#o.store.labels.removePublication(p.hostname, p.path);
    }

    await this.#o.store.labels.replaceProblems(problems, now);
    return { published, unpublished, problems };
  }

  async #save(p: LabelPublication): Promise<void> {
    await this.#o.store.labels.savePublication(p);
  }

  async #isLive(hostname: string, path: string | null, project: string): Promise<boolean> {
    const route = await this.#o.store.routes.findLive(hostname, path);
    return route !== null && route.owner === project && route.state === 'active';
  }

  /**
   * What the containers ask for, by hostname and project (two projects asking for one name each
   * go to the façade, which gives it to its holder and HOSTNAME_TAKEN to the other); bad labels
   * and replicas labelled differently go to `problems`.
   */
  async #wanted(snapshot: TopologySnapshot, problems: Problem[]): Promise<Map<string, Wanted>> {
    const groups = new Map<string, { request: LabelRequest; containers: ContainerInfo[] }>();
    const known = await this.#knownProjects();
    for (const c of snapshot.containers) {
      if (!asksToPublish(c)) continue;
      const parsed = parseContainerLabels(c, this.#routeOptions);
      const base = { containerId: c.id, containerName: c.name, project: null, hostname: null };
      if (!parsed.ok) {
        problems.push({ ...base, code: parsed.code, message: `${parsed.message} ${parsed.hint}` });
        continue;
      }
      const r = parsed.request;
      if (!known(r.project)) {
        problems.push({
          ...base,
          project: r.project,
          hostname: r.hostname,
          code: 'NOT_OWNER',
          message: `Container ${c.name} publishes for project ${r.project}, which is not a known project. ${this.#o.projects.length > 0 ? 'Add it to docker.labels.projects' : 'Create a token for it (`tunnel token create`) or list it in docker.labels.projects'}, or fix the label.`,
        });
        continue;
      }
      const key = `${routeKey(r)} ${r.project}`;
      const group = groups.get(key);
      if (!group) groups.set(key, { request: r, containers: [c] });
      else group.containers.push(c);
    }
    const wanted = new Map<string, Wanted>();
    for (const [key, g] of groups) {
      const hostname = g.request.hostname;
      const differ = g.containers.find((c) => {
        const p = parseContainerLabels(c, this.#routeOptions);
        return p.ok && JSON.stringify(p.request) !== JSON.stringify(g.request);
      });
      const names = g.containers.map((c) => c.name).sort();
      const conflict = (message: string) => {
        for (const c of g.containers) {
          problems.push({
            containerId: c.id,
            containerName: c.name,
            project: g.request.project,
            hostname,
            code: 'INVALID_INPUT',
            message,
          });
        }
      };
      if (differ) {
        conflict(
          `Containers ${names.join(', ')} all ask for ${hostname} with different port, scheme or origin labels. Label every replica alike, or give each its own hostname or path.`,
        );
        continue;
      }
      const target = g.containers.length === 1 ? (g.containers[0] as ContainerInfo).name : replicaAlias(g.containers);
      if (target === null) {
        conflict(
          `Containers ${names.join(', ')} all ask for ${hostname} but share no network alias cloudflared could use for all of them. Give them one alias (\`--network-alias\`, or run them as one Compose service).`,
        );
        continue;
      }
      wanted.set(key, { request: g.request, containers: g.containers, target });
    }
    return wanted;
  }

  /**
   * Known projects: those `docker.labels.projects` lists when it is set; otherwise those the
   * operator has given a live API token, or that hold a route. A label cannot create a project:
   * a typo would otherwise publish under a name nobody controls.
   */
  async #knownProjects(): Promise<(project: string) => boolean> {
    if (this.#o.projects.length > 0) {
      const listed = new Set(this.#o.projects);
      return (p) => listed.has(p);
    }
    const known = new Set<string>();
    for (const t of await this.#o.store.tokens.list()) {
      if (t.revokedAt === null && t.actor.kind === 'project') known.add(t.actor.project);
    }
    for (const r of await this.#o.store.routes.list({})) known.add(r.owner);
    return (p) => known.has(p);
  }
}

/** A route's identity: hostname and path (NUL cannot occur in either). */
function routeKey(r: { readonly hostname: string; readonly path: string | null }): string {
  return `${r.hostname}\u0000${r.path ?? ''}`;
}

/** An alias every replica carries on one network: Compose's service name first. */
function replicaAlias(containers: readonly ContainerInfo[]): string | null {
  const service = containers[0]?.labels[COMPOSE_SERVICE_LABEL];
  const common = (net: string) => {
    const [first, ...rest] = containers.map((c) => c.networks.find((n) => n.networkName === net)?.aliases ?? []);
    return (first ?? []).filter((alias) => rest.every((aliases) => aliases.includes(alias)));
  };
  const nets = containers[0]?.networks.map((n) => n.networkName) ?? [];
  const candidates = nets.flatMap((net) => [...common(net)]);
  if (service && candidates.includes(service)) return service;
  return candidates.sort()[0] ?? null;
}
