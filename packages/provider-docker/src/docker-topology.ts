import {
  type Clock,
  type ContainerInfo,
  type Logger,
  NoopLogger,
  type SnapshotOptions,
  SystemClock,
  type TimerHandle,
  type Topology,
  type TopologyCache,
  type TopologySnapshot,
} from '@tunnel/core';
import { type CloudflaredHints, locateCloudflared, scanHostProcesses } from './cloudflared-locator.js';
import {
  DockerEngine,
  type DockerEngineOptions,
  type DockerFailure,
  describeDockerFailure,
  isDockerTransportError,
} from './docker-engine.js';
import { EngineReader } from './engine-reader.js';
import { readHostListeners } from './host-listeners.js';

export interface DockerTopologyOptions extends DockerEngineOptions {
  /** `docker.enabled`. When false the socket is never touched and Docker reads as unavailable. @default true */
  readonly enabled?: boolean;
  /** `docker.snapshotTtlMs`: a snapshot older than this is taken again. @default 30000 */
  readonly ttlMs?: number;
  /** Where snapshots are kept for other processes (`store.topology`). */
  readonly cache?: TopologyCache;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Where cloudflared runs, as far as the configuration says. */
  readonly cloudflared?: CloudflaredHints;
  /** @default '/proc' */
  readonly procRoot?: string;
  /**
   * Follow the engine's `/events` stream and refresh on every container or network change, and
   * refresh in the background every TTL, so the cache stays current for other processes.
   * @default true
   */
  readonly watch?: boolean;
  /** Events closer together than this cause one refresh. @default 250 */
  readonly eventDebounceMs?: number;
}

const only = <T>(items: readonly T[]): T | undefined => (items.length === 1 ? items[0] : undefined);

/** Whether two readings of a container agree on everything a target depends on. */
function sameContainer(a: ContainerInfo, b: ContainerInfo): boolean {
  const key = (c: ContainerInfo) =>
    JSON.stringify([
      c.id,
      c.name,
      c.state,
      c.networkMode,
      c.networks.map((n) => [n.networkName, [...n.aliases].sort()]),
      c.ports,
      c.labels,
    ]);
  return key(a) === key(b);
}

/** Engine events that change what a snapshot says. */
const CONTAINER_ACTIONS = new Set(['create', 'start', 'die', 'destroy', 'rename', 'update', 'pause', 'unpause']);
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;

interface EngineEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * The Topology port on a Docker engine (dockerode). Snapshots list every container with its
 * networks, aliases, ports and labels, every network, and where cloudflared runs (see
 * {@link locateCloudflared}). A snapshot is kept in memory and in the state store's topology
 * cache, taken again after the TTL, after an engine event, or on `refresh()`.
 *
 * When the socket is absent or refuses access the snapshot says `docker.available: false` with
 * the reason (and still locates a cloudflared running on the host); it never throws for that.
 * A process refused by permissions (an MCP server running as a project's user) serves the
 * cache a process with access keeps fresh, and never overwrites that cache.
 */
export class DockerTopology implements Topology {
  readonly #engine: DockerEngine;
  readonly #reader: EngineReader;
  readonly #enabled: boolean;
  readonly #ttlMs: number;
  readonly #cache: TopologyCache | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #hints: CloudflaredHints;
  readonly #procRoot: string;
  readonly #watch: boolean;
  readonly #debounceMs: number;

  #current: TopologySnapshot | null = null;
  /** Bumped by every relevant event; a snapshot taken before the latest bump is stale. */
  #generation = 0;
  #currentGeneration = 0;
  #inflight: { readonly generation: number; readonly promise: Promise<TopologySnapshot> } | null = null;
  #events: AbortController | null = null;
  #reconnectDelay = RECONNECT_MIN_MS;
  #reconnect: TimerHandle | null = null;
  #pendingRefresh: TimerHandle | null = null;
  #ttlTimer: TimerHandle | null = null;
  #closed = false;
  readonly #listeners = new Set<(snapshot: TopologySnapshot) => void>();

  constructor(options: DockerTopologyOptions = {}) {
    this.#engine = new DockerEngine(options);
    this.#reader = new EngineReader(this.#engine);
    this.#enabled = options.enabled ?? true;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#cache = options.cache;
    this.#clock = options.clock ?? new SystemClock();
    this.#logger = options.logger ?? new NoopLogger();
    this.#hints = options.cloudflared ?? {};
    this.#procRoot = options.procRoot ?? '/proc';
    this.#watch = options.watch ?? true;
    this.#debounceMs = options.eventDebounceMs ?? 250;
  }

  get socketPath(): string {
    return this.#engine.socketPath;
  }

  async snapshot(options: SnapshotOptions = {}): Promise<TopologySnapshot> {
    const maxAgeMs = options.maxAgeMs ?? this.#ttlMs;
    const fresh = (s: TopologySnapshot | null): s is TopologySnapshot =>
      s !== null && this.#clock.now() - s.takenAt < maxAgeMs;
    // An engine event since the last snapshot makes both it and the cache stale.
    if (this.#currentGeneration === this.#generation) {
      const current = this.#current;
      if (fresh(current) && current.docker.available) return current;
      if (this.#cache) {
        // The daemon (or any process with access) keeps the cache current: a process refused
        // by the socket, or one that just started, reads that instead of the engine.
        const cached = await this.#loadCache();
        if (fresh(cached) && (cached.docker.available || !current || cached.takenAt > current.takenAt)) {
          this.#current = cached;
          return cached;
        }
      }
      if (fresh(current)) return current;
    }
    return this.refresh();
  }

  async refresh(): Promise<TopologySnapshot> {
    for (;;) {
      const running = this.#inflight;
      if (!running) break;
      if (running.generation === this.#generation) return running.promise;
      await running.promise.catch(() => undefined);
    }
    const generation = this.#generation;
    const promise = this.#take(generation).finally(() => {
      if (this.#inflight?.promise === promise) this.#inflight = null;
    });
    this.#inflight = { generation, promise };
    return promise;
  }

  /**
   * One inspect of `container`: the snapshot stands when the engine still says the same of it
   * (state, networks, ports), else a fresh snapshot is taken. This is what makes an answer true
   * now even when the snapshot came from the cache another process keeps: a container started,
   * stopped or reconnected a moment ago is seen before the answer is given.
   */
  async recheck(container: string, snapshot: TopologySnapshot): Promise<TopologySnapshot> {
    if (!this.#enabled) return snapshot;
    const known =
      snapshot.containers.find((c) => c.name === container || c.id === container) ??
      // An alias (or an id prefix) names no container the engine can inspect: check the one it
      // stands for, when there is exactly one.
      only(snapshot.containers.filter((c) => c.networks.some((n) => n.aliases.includes(container))));
    let now: ContainerInfo | null;
    try {
      now = await this.#reader.inspectOne(
        known?.id ?? container,
        new Map(snapshot.networks.map((n) => [n.name, n.id])),
      );
    } catch (error) {
      if (!isDockerTransportError(error)) throw error;
      return snapshot;
    }
    if (now === null && known === undefined) return snapshot;
    if (now !== null && known !== undefined && sameContainer(now, known)) return snapshot;
    // Stale: what was kept of it (and any snapshot taken before now) must not be reused.
    this.#generation += 1;
    this.#reader.forget(now?.id ?? known?.id);
    return this.refresh();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#events?.abort();
    this.#events = null;
    this.#pendingRefresh?.cancel();
    this.#ttlTimer?.cancel();
    this.#reconnect?.cancel();
    await this.#inflight?.promise.catch(() => undefined);
  }

  async #take(generation: number): Promise<TopologySnapshot> {
    const takenAt = this.#clock.now();
    let docker: TopologySnapshot['docker'];
    let failure: DockerFailure | null = null;
    let containers: TopologySnapshot['containers'] = [];
    let networks: TopologySnapshot['networks'] = [];
    if (!this.#enabled) {
      docker = { available: false, reason: 'Docker is disabled in the configuration (docker.enabled: false)' };
    } else {
      try {
        const view = await this.#reader.read();
        docker = { available: true, apiVersion: view.apiVersion };
        containers = view.containers;
        networks = view.networks;
      } catch (error) {
        if (!isDockerTransportError(error)) throw error;
        failure = describeDockerFailure(error, this.#engine);
        docker = { available: false, reason: failure.reason };
        this.#reader.forget();
      }
    }
    const configured = this.#hints.container !== undefined || this.#hints.label !== undefined;
    const processes = configured ? [] : await scanHostProcesses(this.#procRoot, new Set(containers.map((c) => c.id)));
    const cloudflared = locateCloudflared({ containers, processes, hints: this.#hints, docker });
    const hostListeners = await readHostListeners(this.#procRoot);
    const snapshot: TopologySnapshot = { takenAt, docker, cloudflared, containers, networks, hostListeners };

    // A process refused by permissions sees nothing: its blind view must not replace the
    // cache a process with access keeps.
    if (this.#cache && failure?.scope !== 'process') {
      await this.#cache.save(snapshot).catch((error: unknown) => {
        this.#logger.warn('topology cache not saved', { error: String(error) });
      });
    }
    this.#adopt(snapshot, generation);
    if (docker.available) this.#startWatching();
    this.#scheduleTtlRefresh();
    if (failure) this.#logger.warn('Docker unavailable; topology degraded', { reason: failure.reason });
    return snapshot;
  }

  #adopt(snapshot: TopologySnapshot, generation: number): void {
    this.#current = snapshot;
    this.#currentGeneration = generation;
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch (error) {
        this.#logger.error('topology listener failed', { error: String(error) });
      }
    }
  }

  onChange(listener: (snapshot: TopologySnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #loadCache(): Promise<TopologySnapshot | null> {
    try {
      return (await this.#cache?.load()) ?? null;
    } catch (error) {
      this.#logger.warn('topology cache not readable', { error: String(error) });
      return null;
    }
  }

  #scheduleTtlRefresh(): void {
    if (!this.#watch || this.#closed || this.#ttlMs <= 0) return;
    this.#ttlTimer?.cancel();
    this.#ttlTimer = this.#clock.setTimer(this.#ttlMs, () => {
      this.#ttlTimer = null;
      this.#backgroundRefresh('ttl');
    });
  }

  #backgroundRefresh(why: string): void {
    if (this.#closed) return;
    this.refresh().catch((error: unknown) => {
      this.#logger.error('topology refresh failed', { why, error: String(error) });
    });
  }

  #invalidate(containerId?: string): void {
    this.#generation += 1;
    if (containerId) this.#reader.forget(containerId);
    if (this.#pendingRefresh || this.#closed) return;
    this.#pendingRefresh = this.#clock.setTimer(this.#debounceMs, () => {
      this.#pendingRefresh = null;
      this.#backgroundRefresh('event');
    });
  }

  #startWatching(): void {
    // While a reconnect waits out its backoff, snapshots do not reconnect on their own.
    if (!this.#watch || this.#closed || this.#events || this.#reconnect) return;
    const abort = new AbortController();
    this.#events = abort;
    void this.#follow(abort);
  }

  async #follow(abort: AbortController): Promise<void> {
    let connectedAt: number | null = null;
    try {
      const { docker } = await this.#engine.connect();
      const stream = (await docker.getEvents({
        filters: { type: ['container', 'network'] },
        abortSignal: abort.signal,
      } as object)) as NodeJS.ReadableStream & { socket?: { unref?: () => void } };
      // The daemon is kept alive by its own servers; an event stream alone must not keep a
      // one-shot CLI command from exiting.
      stream.socket?.unref?.();
      connectedAt = this.#clock.now();
      // Events between the last snapshot and now were missed.
      this.#invalidate();
      let buffered = '';
      await new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer | string) => {
          buffered += chunk.toString();
          let newline = buffered.indexOf('\n');
          while (newline >= 0) {
            this.#onEvent(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf('\n');
          }
        });
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
    } catch (error) {
      if (!abort.signal.aborted) this.#logger.warn('Docker event stream failed', { error: String(error) });
    }
    if (this.#events !== abort || this.#closed) return;
    // The stream ended: whatever happens until it is back is unknown.
    this.#events = null;
    this.#generation += 1;
    // A stream that stayed up a while was healthy: start the backoff over.
    if (connectedAt !== null && this.#clock.now() - connectedAt >= RECONNECT_MAX_MS)
      this.#reconnectDelay = RECONNECT_MIN_MS;
    const delay = this.#reconnectDelay;
    this.#reconnectDelay = Math.min(RECONNECT_MAX_MS, delay * 2);
    this.#reconnect = this.#clock.setTimer(delay, () => {
      this.#reconnect = null;
      this.#startWatching();
    });
  }

  #onEvent(line: string): void {
    if (line.trim() === '') return;
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      return;
    }
    if (event.Type === 'network') {
      this.#invalidate(event.Actor?.Attributes?.container);
    } else if (event.Type === 'container' && CONTAINER_ACTIONS.has(event.Action ?? '')) {
      this.#invalidate(event.Actor?.ID);
    }
  }
}
