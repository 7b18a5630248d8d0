import type { Clock, Logger, TimerHandle } from '@tunnel/core';

/**
 * A job the daemon runs every `intervalMs` on the injected clock: one run at a time, the next
 * interval counted from the end of the previous run, failures logged and never fatal. `stop`
 * waits for a run in progress (the "finish the operation in flight" of a clean shutdown).
 */
export class PeriodicJob {
  readonly name: string;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #run: () => Promise<void>;
  readonly #logger: Logger;
  #timer: TimerHandle | null = null;
  #inFlight: Promise<void> | null = null;
  #running = false;

  constructor(options: { name: string; clock: Clock; intervalMs: number; run: () => Promise<void>; logger: Logger }) {
    this.name = options.name;
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs;
    this.#run = options.run;
    this.#logger = options.logger;
  }

  /** Schedules the first run after `firstDelayMs` (default: one interval). */
  start(firstDelayMs = this.#intervalMs): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(firstDelayMs);
  }

  /** Runs now (or joins the run in progress). */
  runNow(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    const run = this.#run()
      .catch((error: unknown) => this.#logger.error(`${this.name} failed`, { job: this.name, error }))
      .finally(() => {
        this.#inFlight = null;
      });
    this.#inFlight = run;
    return run;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
    await this.#inFlight;
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#clock.setTimer(delayMs, () => {
      this.#timer = null;
      void this.runNow().then(() => {
        if (this.#running) this.#schedule(this.#intervalMs);
      });
    });
  }
}
