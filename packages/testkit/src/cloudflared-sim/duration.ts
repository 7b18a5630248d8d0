const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration (`30s`, `1m30s`, `500ms`, `1.5h`) into milliseconds, as cloudflared's
 * flag parser does; returns null for anything Go's `time.ParseDuration` rejects (a bare `10`
 * is rejected unless it is `0`).
 */
export function parseGoDuration(text: string): number | null {
  const input = text.trim();
  if (input === '0') return 0;
  if (input === '') return null;
  const body = input.replace(/^[+-]/, '');
  if (input.startsWith('-')) return null;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < body.length) {
    part.lastIndex = index;
    const match = part.exec(body);
    if (!match) return null;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] ?? Number.NaN);
    index = part.lastIndex;
  }
  return Number.isFinite(total) ? total : null;
}

/** Formats milliseconds as a Go duration cloudflared accepts (`30s`, `1500ms`). */
export function formatGoDuration(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${Math.round(ms)}ms`;
}
