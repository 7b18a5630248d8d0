import type { TunnelConfig } from '../config/schema.js';
import type { TopologySnapshot } from '../domain/topology.js';
import { TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Topology } from '../ports/topology.js';
import { selectCurrentTarget } from '../topology/current-target.js';
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
  const request = { actor: v.actor, container: v.service.container, port: v.service.port, scheme: v.service.scheme };
  const options = { ownershipGuard: deps.config.docker.ownershipGuard };
  if (!deps.topology) return selectTarget(snapshot, request, options);
  return selectCurrentTarget(deps.topology, request, options, snapshot);
}
