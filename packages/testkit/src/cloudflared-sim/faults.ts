import { parseGoDuration } from './duration.js';

/**
 * The ways the simulated cloudflared can misbehave. Each can be set at start (flags or the
 * `CLOUDFLARED_SIM_FAULTS` env var) and changed at run time (`POST /sim/fault`).
 */
export interface SimFaults {
  /** Exit with code 2 (a Go panic's exit code) this long after the fault is set. */
  readonly crashAfterMs: number | null;
  /** Alive, `/healthcheck` 200, but no edge connection: `/ready` 503 forever. */
  readonly hang: boolean;
  /** Accept connections on the metrics server but never answer (the `/sim/*` control paths still answer). */
  readonly noHttp: boolean;
  /** Edge connections register this long after start (`/ready` 503 until then). At run time: drop them and re-register after this long. */
  readonly slowStartMs: number;
  /** Edge connections drop and come back every this many ms. */
  readonly flapMs: number | null;
  /** In-flight requests take this long to finish on SIGTERM (cut short by the grace period). */
  readonly drainMs: number;
  /**
   * The edge cannot be reached (outbound 7844 blocked): every dial fails and is retried with
   * backoff, forever; `/ready` 503 with `readyConnections: 0`, one connection attempt in
   * `cloudflared_tunnel_ha_connections`. At run time: connections drop and do not come back.
   */
  readonly edgeUnreachable: boolean;
}

export const NO_FAULTS: SimFaults = {
  crashAfterMs: null,
  hang: false,
  noHttp: false,
  slowStartMs: 0,
  flapMs: null,
  drainMs: 0,
  edgeUnreachable: false,
};

/** The env var holding start-up faults, e.g. `crash-after=2s,hang,no-http,slow-start=1s,flap=500ms,drain=10s,edge-unreachable`. */
export const SIM_FAULTS_ENV = 'CLOUDFLARED_SIM_FAULTS';

export class FaultSpecError extends Error {}

function duration(name: string, value: string | undefined): number {
  const ms = value === undefined ? null : parseGoDuration(value);
  if (ms === null)
    throw new FaultSpecError(`fault ${name} needs a duration such as 2s or 500ms, got ${value ?? 'nothing'}`);
  return ms;
}

/** Applies one `name[=value]` fault (the flag name without `--sim-`, or an env list item). */
export function applyFault(faults: SimFaults, name: string, value: string | undefined): SimFaults {
  switch (name) {
    case 'crash-after':
      return { ...faults, crashAfterMs: duration(name, value) };
    case 'hang':
      return { ...faults, hang: value === undefined || value === 'true' };
    case 'no-http':
      return { ...faults, noHttp: value === undefined || value === 'true' };
    case 'slow-start':
      return { ...faults, slowStartMs: duration(name, value) };
    case 'flap':
      return { ...faults, flapMs: Math.max(1, duration(name, value)) };
    case 'drain':
      return { ...faults, drainMs: duration(name, value) };
    case 'edge-unreachable':
      return { ...faults, edgeUnreachable: value === undefined || value === 'true' };
    default:
      throw new FaultSpecError(
        `unknown fault ${name} (known: crash-after, hang, no-http, slow-start, flap, drain, edge-unreachable)`,
      );
  }
}

/** Parses `crash-after=2s,hang,…` (the env var's format). */
export function parseFaultList(text: string, base: SimFaults = NO_FAULTS): SimFaults {
  let faults = base;
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    faults =
      eq === -1
        ? applyFault(faults, trimmed, undefined)
        : applyFault(faults, trimmed.slice(0, eq), trimmed.slice(eq + 1));
  }
  return faults;
}

/** The JSON body `POST /sim/fault` accepts: any subset of the faults, or `{"reset": true}`. */
export type SimFaultUpdate = Partial<SimFaults> & { readonly reset?: boolean };

const isNonNegative = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Validates a control request's body; throws FaultSpecError naming the bad field. */
export function parseFaultUpdate(body: unknown): SimFaultUpdate {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new FaultSpecError('the body must be a JSON object');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    switch (key) {
      case 'reset':
      case 'hang':
      case 'noHttp':
      case 'edgeUnreachable':
        if (typeof value !== 'boolean') throw new FaultSpecError(`${key} must be a boolean`);
        break;
      case 'crashAfterMs':
      case 'flapMs':
        if (value !== null && !isNonNegative(value)) throw new FaultSpecError(`${key} must be null or a number ≥ 0`);
        break;
      case 'slowStartMs':
      case 'drainMs':
        if (!isNonNegative(value)) throw new FaultSpecError(`${key} must be a number ≥ 0`);
        break;
      default:
        throw new FaultSpecError(`unknown field ${key}`);
    }
    out[key] = value;
  }
  return out as SimFaultUpdate;
}
