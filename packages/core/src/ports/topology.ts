import type { TopologySnapshot } from '../domain/topology.js';

export interface SnapshotOptions {
  /** Accept a cached snapshot at most this old. @default the implementation's TTL */
  readonly maxAgeMs?: number;
}

/**
 * Where cloudflared and the services run (Docker containers, networks, published ports).
 *
 * Implementations:
 * - must not throw when the container engine is absent or refuses access: return a snapshot
 *   with `docker.available: false` and the reason (degraded, read-only);
 * - must list every container, running or not, with names without Docker's leading `/`;
 * - must report every network a container is attached to, with its aliases on that network;
 * - must report each port once per container, with every host binding it is published on;
 * - must report where cloudflared runs, and `ambiguous` rather than guess when it is in more
 *   than one place;
 * - must return a snapshot no older than `maxAgeMs` when it is given.
 */
export interface Topology {
  snapshot(options?: SnapshotOptions): Promise<TopologySnapshot>;
  /** Forces a fresh snapshot. */
  refresh(): Promise<TopologySnapshot>;
  /**
   * Checks what `snapshot` says of one container (by name, id or alias) against the engine now.
   * Implementations must return `snapshot` itself when the engine agrees, and a fresh snapshot
   * when it does not (the container changed, appeared or was removed); must return `snapshot`
   * when the engine cannot be asked (no access, down) rather than throw. Cheaper than
   * `refresh()`: one inspect call when nothing changed.
   */
  recheck?(container: string, snapshot: TopologySnapshot): Promise<TopologySnapshot>;
  /**
   * Calls `listener` with every snapshot taken from now on (after events, the TTL, a refresh).
   * Implementations must not call it for a snapshot read from the cache, and must not let a
   * listener's error stop the topology. Returns the unsubscribe function.
   */
  onChange?(listener: (snapshot: TopologySnapshot) => void): () => void;
  /** Stops event streams and timers. */
  close?(): Promise<void>;
}
