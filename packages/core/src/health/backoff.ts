export interface BackoffPolicy {
  /** The wait before the second attempt. */
  readonly initialMs: number;
  /** No wait is longer than this. */
  readonly maxMs: number;
  /** Each wait moves by up to ± this share of itself (0 … 1). */
  readonly jitterRatio: number;
}

/**
 * The wait before the next restart attempt, before jitter, given how many attempts were made
 * since the backoff was last reset: 0 for the first (the tunnel was healthy, act at once), then
 * `initialMs`, doubling, capped at `maxMs` — 0, 5, 10, 20, 40, 80, 160, 300, 300 … s by default.
 */
export function backoffDelay(attemptsSoFar: number, policy: Pick<BackoffPolicy, 'initialMs' | 'maxMs'>): number {
  if (attemptsSoFar <= 0) return 0;
  // 2^(n-1) overflows to Infinity long before n gets large; the cap handles it.
  return Math.min(policy.maxMs, policy.initialMs * 2 ** (attemptsSoFar - 1));
}

/** Spreads `delayMs` by ± `jitterRatio`, so replicas or VMs that failed together do not retry in step. */
export function withJitter(delayMs: number, jitterRatio: number, random: () => number): number {
  if (delayMs <= 0 || jitterRatio <= 0) return delayMs;
  return Math.max(0, Math.round(delayMs * (1 + jitterRatio * (2 * random() - 1))));
}
