import type {
  ProcessController,
  ProcessControllerCapabilities,
  ProcessState,
  ProcessStatus,
  ReplicaStatus,
  RestartOptions,
} from '@tunnel/core';
import { TunnelError } from '@tunnel/core';

export interface InMemoryProcessControllerOptions {
  capabilities?: Partial<ProcessControllerCapabilities>;
  /** @default 1 */
  replicas?: number;
  /** @default Date.now */
  now?: () => number;
}

interface Replica {
  id: string;
  state: ProcessState;
  pid: number | null;
  startedAt: number | null;
  exitCode: number | null;
}

let nextPid = 40_000;

/**
 * A ProcessController in memory: a simulated set of cloudflared replicas with pids. Tests make
 * it crash (`kill`) and fail (`failNextRestarts`); every restart is recorded.
 */
export class InMemoryProcessController implements ProcessController {
  readonly kind = 'memory';
  readonly capabilities: ProcessControllerCapabilities;
  readonly restarts: RestartOptions[] = [];
  #replicas: Replica[];
  #failures = 0;
  readonly #now: () => number;

  constructor(options: InMemoryProcessControllerOptions = {}) {
    this.#now = options.now ?? Date.now;
    const replicas = options.replicas ?? 1;
    this.capabilities = {
      canRestart: true,
      restartReloadsConfig: true,
      supportsReplicas: replicas > 1,
      canStartStop: true,
      ...options.capabilities,
    };
    this.#replicas = Array.from({ length: replicas }, (_, i) => ({
      id: `replica-${i + 1}`,
      state: 'running' as ProcessState,
      pid: nextPid++,
      startedAt: this.#now(),
      exitCode: null,
    }));
  }

  /** Simulates the process dying (SIGKILL, a crash). */
  kill(replicaId?: string): void {
    for (const r of this.#replicas) {
      if (replicaId === undefined || r.id === replicaId)
        Object.assign(r, { state: 'exited', pid: null, exitCode: 137 });
    }
  }

  /** The next `count` restarts throw PROVIDER_UNAVAILABLE and leave the process down. */
  failNextRestarts(count: number): void {
    this.#failures = count;
  }

  async status(): Promise<ProcessStatus> {
    const running = this.#replicas.filter((r) => r.state === 'running');
    const first = running[0] ?? this.#replicas[0];
    const replicas: ReplicaStatus[] = this.#replicas.map((r) => ({
      id: r.id,
      state: r.state,
      pid: r.pid,
      metricsUrl: null,
    }));
    return {
      state: running.length > 0 ? 'running' : (first?.state ?? 'unknown'),
      pid: first?.pid ?? null,
      startedAt: first?.startedAt ?? null,
      exitCode: running.length > 0 ? null : (first?.exitCode ?? null),
      detail: null,
      ...(this.capabilities.supportsReplicas ? { replicas } : {}),
    };
  }

  async restart(options: RestartOptions): Promise<void> {
    if (!this.capabilities.canRestart) {
      throw new TunnelError('INVALID_INPUT', 'This controller cannot restart cloudflared.', {
        hint: this.capabilities.reasons?.canRestart ?? 'Restart cloudflared by hand.',
      });
    }
    this.restarts.push(options);
    const targets = this.#replicas.filter((r) => options.replicaId === undefined || r.id === options.replicaId);
    if (options.replicaId !== undefined && targets.length === 0) {
      throw new TunnelError('NOT_FOUND', `No replica ${options.replicaId}.`, {
        hint: 'Use an id from status().replicas.',
      });
    }
    if (this.#failures > 0) {
      this.#failures -= 1;
      for (const r of targets) Object.assign(r, { state: 'exited', pid: null, exitCode: 1 });
      throw new TunnelError('PROVIDER_UNAVAILABLE', 'cloudflared exited right after the restart.', {
        hint: 'Check its log; an invalid config.yml is the usual cause.',
      });
    }
    for (const r of targets)
      Object.assign(r, { state: 'running', pid: nextPid++, startedAt: this.#now(), exitCode: null });
  }

  async start(): Promise<void> {
    for (const r of this.#replicas) {
      if (r.state !== 'running')
        Object.assign(r, { state: 'running', pid: nextPid++, startedAt: this.#now(), exitCode: null });
    }
  }

  async stop(): Promise<void> {
    for (const r of this.#replicas) Object.assign(r, { state: 'stopped', pid: null, exitCode: 0 });
  }
}
