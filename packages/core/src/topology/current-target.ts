import type { TopologySnapshot } from '../domain/topology.js';
import { isTunnelError } from '../errors.js';
import type { Topology } from '../ports/topology.js';
import { parseTargetRequest, type TargetRequest } from './target-request.js';
import { selectTarget, type TargetSelection, type TargetSelectorOptions } from './target-selector.js';

/**
 * {@link selectTarget} on a Topology, with an answer that is true now rather than when the
 * snapshot was taken: the snapshot may be the cache another process saved up to
 * `docker.snapshotTtlMs` ago. The container asked for is checked against the engine first (one
 * inspect: it may have stopped or moved a moment ago), and a refusal is given only after a fresh
 * snapshot refuses too (the container may have started a moment ago, or cloudflared's changed).
 * The TTL bounds the work; it never decides the answer.
 *
 * @param first the snapshot to start from. @default `topology.snapshot()`
 * @throws what `selectTarget` throws.
 */
export async function selectCurrentTarget(
  topology: Topology,
  request: TargetRequest,
  options: TargetSelectorOptions = {},
  first?: TopologySnapshot,
): Promise<TargetSelection> {
  // Validated before anything reaches the engine: the name goes into an API path.
  const { container } = parseTargetRequest(request);
  const start = first ?? (await topology.snapshot());
  let snapshot = start;
  if (container !== null && topology.recheck && snapshot.docker.available) {
    snapshot = await topology.recheck(container, snapshot);
  }
  try {
    return selectTarget(snapshot, request, options);
  } catch (error) {
    // Only "unreachable" can be an artefact of an old snapshot; one recheck already re-read from
    // the engine is as fresh as a refresh.
    if (!isTunnelError(error, 'TARGET_UNREACHABLE') || snapshot !== start) throw error;
    const fresh = await topology.refresh();
    // A process the engine refuses sees nothing: its blind view must not replace the answer.
    if (!fresh.docker.available && start.docker.available) throw error;
    return selectTarget(fresh, request, options);
  }
}
