export interface TimerHandle {
  cancel(): void;
}

/**
 * Time, injected so that intervals, backoff, strikes and retention are tested without sleeping.
 *
 * Implementations:
 * - `now()` must return epoch milliseconds and never go backwards within one process;
 * - `setTimer` must call `callback` once, no earlier than `delayMs` from now, unless cancelled;
 * - `sleep` must resolve after `delayMs`, or reject with the signal's reason when aborted.
 */
export interface Clock {
  now(): number;
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
}
