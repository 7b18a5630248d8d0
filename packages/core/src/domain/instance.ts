import { TunnelError } from '../errors.js';

/**
 * The longest instance id. Chosen so the longest mark, `tunnel-manager:<63-char project>@<id>`,
 * stays within Cloudflare's 100-character record comment limit (15 + 63 + 1 + 20 = 99).
 */
export const MAX_INSTANCE_ID_LENGTH = 20;

/** Lower-case letters, digits and inner hyphens; 1–20 characters. Never contains `@`. */
export const INSTANCE_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$/;

/** Whether `value` is a valid instance id. */
export const isInstanceId = (value: unknown): value is string =>
  typeof value === 'string' && INSTANCE_ID_PATTERN.test(value);

/** Checks an instance id given by a user (config, `--from-instance`). */
export function parseInstanceId(value: unknown, field = 'instance.id'): string {
  if (isInstanceId(value)) return value;
  throw new TunnelError(
    'INVALID_INPUT',
    `${JSON.stringify(typeof value === 'string' ? value.slice(0, 40) : value)} is not a valid instance id.`,
    {
      hint: `An instance id is 1–${MAX_INSTANCE_ID_LENGTH} characters of a–z, 0–9 and "-" (not at either end), e.g. "vm-eu-1".`,
      details: { field },
    },
  );
}

/**
 * The default instance id: the first 12 hex digits of the tunnel id. Stable across restarts
 * (it changes only with the tunnel), and distinct for every tunnel in practice — each VM runs
 * its own tunnel.
 */
export function deriveInstanceId(tunnelId: string): string {
  return tunnelId
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '')
    .slice(0, 12);
}

/** Who "we" are when deciding whose a DNS record or an ingress rule is. */
export interface InstanceIdentity {
  /** The instance id written in every mark. */
  readonly id: string;
  /** `<tunnelId>.cfargotunnel.com`: where this instance's CNAMEs point. */
  readonly tunnelTarget: string;
}
