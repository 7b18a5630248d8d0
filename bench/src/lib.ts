import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Percentile of sorted-or-not samples (nearest rank). */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Runs `fn` `n` times (after `warmup` unmeasured runs) and returns each duration in ms.
 * `collectBetween` (default true) forces a GC before each sample, for work done in this process.
 * Pass false when the measured work runs in another process: the forced full GC's background
 * threads then compete with that process for the CPU and inflate what they meant to isolate.
 */
export async function timeEach(
  n: number,
  fn: (i: number) => unknown,
  warmup = 0,
  collectBetween = true,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: number[] = [];
  const collect = collectBetween ? (globalThis as { gc?: () => void }).gc : undefined;
  for (let i = 0; i < n; i++) {
    // Start each sample with an empty young generation, so a sample pays for its own garbage,
    // not for the previous one's (pnpm bench runs node with --expose-gc).
    collect?.();
    const start = performance.now();
    await fn(i);
    out.push(performance.now() - start);
  }
  return out;
}

export const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** A scratch directory removed at exit. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tm-bench-${prefix}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Prints the human lines, then the one JSON object every benchmark ends with. */
export function report(lines: readonly string[], figures: Record<string, number | string | boolean>): void {
  for (const line of lines) console.log(line);
  console.log(JSON.stringify(figures));
}
