import type { SnapshotOptions, Topology, TopologySnapshot } from '@tunnel/core';

/** An empty host: Docker available, no containers, cloudflared on the host. */
export function emptyTopologySnapshot(takenAt = 0): TopologySnapshot {
  return {
    takenAt,
    docker: { available: true, apiVersion: null },
    cloudflared: { kind: 'host', pid: null, detail: 'assumed on the host' },
    containers: [],
    networks: [],
  };
}

/** A Topology that serves the snapshot a test gives it. Passes the Topology conformance suite. */
export class InMemoryTopology implements Topology {
  #snapshot: TopologySnapshot;
  readonly #now: () => number;
  refreshes = 0;

  constructor(snapshot: TopologySnapshot = emptyTopologySnapshot(), options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#snapshot = { ...snapshot, takenAt: snapshot.takenAt || this.#now() };
  }

  set(snapshot: TopologySnapshot): void {
    this.#snapshot = snapshot;
  }

  async snapshot(options: SnapshotOptions = {}): Promise<TopologySnapshot> {
    if (options.maxAgeMs !== undefined && this.#now() - this.#snapshot.takenAt > options.maxAgeMs) {
      return this.refresh();
    }
    return this.#snapshot;
  }

  async refresh(): Promise<TopologySnapshot> {
    this.refreshes += 1;
    this.#snapshot = { ...this.#snapshot, takenAt: Math.max(this.#now(), this.#snapshot.takenAt) };
    return this.#snapshot;
  }
}
