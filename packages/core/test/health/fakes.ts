import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryProcessController, type ManualClock } from '@tunnel/testkit';
import {
  type ProcessStatus,
  parseConfig,
  type ReadinessProbe,
  type ReadyResult,
  type RestartOptions,
  SqliteStateStore,
  type TunnelConfigInput,
} from '../../src/index.js';

/** The metrics URL the fake tunnel answers on when it has no per-replica URLs. */
export const FAKE_METRICS_URL = 'http://127.0.0.1:20241';

/**
 * The in-memory controller with what the time-logic tests look at: when each restart began,
 * how many ran at once, a gate to hold a restart open, and a metrics URL per replica.
 */
export class RecordingController extends InMemoryProcessController {
  readonly calls: Array<{ at: number; options: RestartOptions }> = [];
  readonly startedAt = new Map<string, number>();
  inFlight = 0;
  maxInFlight = 0;
  /** While set, restarts wait for it (a slow restart). */
  gate: Promise<void> | null = null;
  readonly #clock: ManualClock;
  readonly #urls: boolean;

  constructor(clock: ManualClock, options: { replicas?: number; perReplicaUrls?: boolean } = {}) {
    super({ replicas: options.replicas ?? 1, now: () => clock.now() });
    this.#clock = clock;
    this.#urls = options.perReplicaUrls ?? false;
  }

  override async restart(options: RestartOptions): Promise<void> {
    this.calls.push({ at: this.#clock.now(), options });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate) await this.gate;
      await super.restart(options);
      const status = await super.status();
      for (const r of status.replicas ?? [{ id: 'replica-1' }]) {
        if (options.replicaId === undefined || options.replicaId === r.id) this.startedAt.set(r.id, this.#clock.now());
      }
    } finally {
      this.inFlight -= 1;
    }
  }

  override async status(): Promise<ProcessStatus> {
    const status = await super.status();
    if (!this.#urls || !status.replicas) return status;
    return { ...status, replicas: status.replicas.map((r) => ({ ...r, metricsUrl: `http://${r.id}.test:20241` })) };
  }

  /** Seconds (from `origin`) at which each restart began. */
  restartSeconds(origin: number): number[] {
    return this.calls.map((c) => (c.at - origin) / 1000);
  }
}

const answer = (ok: boolean, latencyMs = 3): ReadyResult => ({
  answered: true,
  ok,
  statusCode: ok ? 200 : 503,
  readyConnections: ok ? 4 : 0,
  connectorId: 'c0nnect0r',
  latencyMs,
  error: ok ? null : 'answered 503 (readyConnections 0)',
});

/**
 * `/ready` for a RecordingController: a replica is ready when it runs, is not hung, and has been
 * up for `readyDelayMs`. Replica URLs are `http://<id>.test:20241`; FAKE_METRICS_URL speaks for
 * the first running replica (a tunnel without per-replica URLs).
 */
export class FakeReadiness implements ReadinessProbe {
  readonly hung = new Set<string>();
  readyDelayMs = 0;
  readonly urls: string[] = [];
  readonly #controller: RecordingController;
  readonly #clock: ManualClock;

  constructor(controller: RecordingController, clock: ManualClock) {
    this.#controller = controller;
    this.#clock = clock;
  }

  hangAll(): void {
    this.hung.add('*');
  }

  async check(url: string): Promise<ReadyResult> {
    this.urls.push(url);
    const status = await this.#controller.status();
    const replicas = status.replicas ?? [{ id: 'replica-1', state: status.state, pid: status.pid, metricsUrl: null }];
    const id =
      url === FAKE_METRICS_URL
        ? replicas.find((r) => r.state === 'running')?.id
        : /^http:\/\/([^.]+)\.test/.exec(url)?.[1];
    const replica = replicas.find((r) => r.id === id);
    if (replica?.state !== 'running') {
      return {
        answered: false,
        ok: false,
        statusCode: null,
        readyConnections: null,
        connectorId: null,
        latencyMs: 1,
        error: `${url}/ready: ECONNREFUSED`,
      };
    }
    const since = this.#controller.startedAt.get(replica.id) ?? Number.NEGATIVE_INFINITY;
    const warm = this.#clock.now() - since >= this.readyDelayMs;
    return answer(warm && !this.hung.has('*') && !this.hung.has(replica.id));
  }
}

export interface Harness {
  readonly config: ReturnType<typeof parseConfig>;
  readonly store: SqliteStateStore;
  cleanup(): Promise<void>;
}

/** A config (jitter off unless given) and a real SQLite store in a temp dir. */
export function harness(overrides: TunnelConfigInput = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'tm-health-'));
  const config = parseConfig({
    ...overrides,
    dataDir: dir,
    cloudflared: { metricsUrl: FAKE_METRICS_URL, ...overrides.cloudflared },
    restart: { jitterRatio: 0, ...overrides.restart },
  });
  const store = SqliteStateStore.open({ path: config.database.path });
  return {
    config,
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
