import type { TunnelConfig } from '../config/schema.js';
import type { TopologySnapshot } from '../domain/topology.js';
import { isTunnelError, TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Topology } from '../ports/topology.js';
import { selectTarget, type TargetSelection } from '../topology/target-selector.js';
import type { ValidatedCnameRequest } from './cname-request.js';

export interface ServiceTargetDeps {
  /** null when no Topology is registered (the Docker plugin is absent). */
  readonly topology: Topology | null;
  readonly config: Pick<TunnelConfig, 'docker'>;
  readonly clock: Clock;
}

/**
 * The ingress target for a request's service, from the Topology. Without one, every service is
 * on the host — but only when `docker.enabled` is false; otherwise the missing plugin is a
 * configuration error, not something to guess around.
 *
 * @throws TunnelError `CONFIG_INVALID`, or what `selectTarget` throws (`TARGET_UNREACHABLE`,
 * `NOT_OWNER`, `INVALID_INPUT`).
 */
export async function selectServiceTarget(v: ValidatedCnameRequest, deps: ServiceTargetDeps): Promise<TargetSelection> {
  let snapshot: TopologySnapshot;
  if (deps.topology) {
    snapshot = await deps.topology.snapshot();
  } else if (deps.config.docker.enabled) {
    throw new TunnelError('CONFIG_INVALID', 'docker.enabled is true, but no Topology is registered.', {
      hint: 'Pass dockerPlugin from @tunnel/provider-docker to createTunnelManager, or set docker.enabled: false when every service runs on the host.',
    });
  } else {
    if (v.service.container !== null) {
      throw new TunnelError(
        'TARGET_UNREACHABLE',
        `Cannot publish container ${v.service.container}: Docker support is turned off (docker.enabled: false).`,
        {
          hint: 'Publish the service on a host port and ask without a container, or ask the operator to enable Docker.',
          retryable: false,
          details: { container: v.service.container },
        },
      );
    }
    snapshot = {
      takenAt: deps.clock.now(),
      docker: { available: false, reason: 'docker.enabled is false' },
      cloudflared: { kind: 'host', pid: null, detail: 'Docker support is off, so cloudflared runs on the host' },
      containers: [],
      networks: [],
    };
  }
  const select = (from: TopologySnapshot) =>
    selectTarget(
      from,
      { actor: v.actor, container: v.service.container, port: v.service.port, scheme: v.service.scheme },
      { ownershipGuard: deps.config.docker.ownershipGuard },
    );
  if (!deps.topology) return select(snapshot);
  return selectFresh(deps.topology, snapshot, v.service.container, select);
}

/**
 * An answer that is true now, not when the snapshot was taken (issue 18): the snapshot may be
 * the cache another process saved up to `docker.snapshotTtlMs` ago. The container asked for is
 * checked against the engine first (one inspect: it may have stopped or moved a moment ago),
 * and a refusal is given only after a fresh snapshot refuses too (it may have started a moment
 * ago, or cloudflared's container changed). The TTL bounds work; it never decides an answer.
 */
async function selectFresh(
  topology: Topology,
  first: TopologySnapshot,
  container: string | null,
  select: (snapshot: TopologySnapshot) => TargetSelection,
): Promise<TargetSelection> {
  let snapshot = first;
  if (container !== null && topology.recheck && snapshot.docker.available) {
    snapshot = await topology.recheck(container, snapshot);
  }
  try {
    return select(snapshot);
  } catch (error) {
    // Only "unreachable" can be an artefact of an old snapshot; a snapshot already re-read from
    // the engine by recheck is as fresh as a refresh.
    if (!isTunnelError(error, 'TARGET_UNREACHABLE') || snapshot !== first) throw error;
    const fresh = await topology.refresh();
    // A process the engine refuses sees nothing: its blind view must not replace the answer.
    if (!fresh.docker.available && first.docker.available) throw error;
    return select(fresh);
  }
}
