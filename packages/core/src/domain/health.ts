/** How the tunnel is doing, from the health monitor's point of view. */
export type HealthStatus = 'healthy' | 'degraded' | 'down';

/** The checks the monitor runs; a sample names the first one that failed. */
export type HealthCheckName = 'process' | 'ready' | 'api';

/** The process state a ProcessController reports. */
export type ProcessState = 'running' | 'starting' | 'stopped' | 'exited' | 'unknown';

/** The tunnel status the Cloudflare API reports (`cfd_tunnel/{id}.status`). */
export type TunnelApiStatus = 'inactive' | 'degraded' | 'healthy' | 'down';

/** One health check, as stored in `tunnel_health`. */
export interface HealthSample {
  /** Epoch ms the check started. */
  readonly at: number;
  readonly status: HealthStatus;
  readonly processState: ProcessState;
  /** From `/ready`; null when it could not be read. */
  readonly readyConnections: number | null;
  /** Latency of the `/ready` call in ms; null when it was not made or timed out. */
  readonly latencyMs: number | null;
  /** null when no API status provider is configured or the call failed. */
  readonly apiStatus: TunnelApiStatus | null;
  /** The first check that failed; null when all passed. */
  readonly failingCheck: HealthCheckName | null;
  /** A short human explanation of the failure. */
  readonly detail: string | null;
}
