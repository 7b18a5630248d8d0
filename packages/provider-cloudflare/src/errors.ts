import { type ErrorCode, isTunnelError, TunnelError, toTunnelError } from '@tunnel/core';
import type { CloudflareSdk } from './sdk.js';

/** The token permissions the provider needs, named as Cloudflare's token editor names them. */
export const PERMISSIONS = {
  zoneRead: 'Zone → Zone → Read',
  dnsRead: 'Zone → DNS → Read',
  dnsEdit: 'Zone → DNS → Edit',
  tunnelRead: 'Account → Cloudflare Tunnel → Read',
  tunnelEdit: 'Account → Cloudflare Tunnel → Edit',
} as const;

export type CloudflarePermission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];

/** What one API call is for: the words of its error messages and the permission it needs. */
export interface ApiOperation {
  /** Completes "while trying to …", e.g. `create the DNS record app.example.com`. */
  readonly action: string;
  readonly permission: CloudflarePermission;
  /** What a 404 (or code 7003, "perhaps your object identifier is invalid") means for this call. */
  readonly subject: 'zone' | 'record' | 'tunnel' | 'none';
  /** Named in messages and details, e.g. the zone or tunnel id. */
  readonly subjectId?: string;
}

/** Cloudflare error codes the mapping branches on (never on message text). */
export const CLOUDFLARE_CODES = {
  authentication: 10000,
  permission: 9109,
  rateLimited: 971,
  recordNotFound: 81044,
  conflicts: [81053, 81054, 81057, 81058] as readonly number[],
  invalidIdentifier: 7003,
  tunnelConfigInvalid: 1056,
} as const;

/** A 429 without a usable `retry-after` waits this long. */
const DEFAULT_RETRY_AFTER_MS = 60_000;

function retryAfterMs(headers: Headers | undefined): number {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const raw = headers?.get('retry-after');
  if (raw) {
    const seconds = Number.parseFloat(raw);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
    const date = Date.parse(raw);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  return DEFAULT_RETRY_AFTER_MS;
}

/** `message (code n); message (code m)` from the envelope's errors, for people to read. */
function describeErrors(errors: ReadonlyArray<{ code?: unknown; message?: unknown }>): string {
  if (errors.length === 0) return 'no error detail';
  return errors
    .map((e) => `${String(e.message ?? '').trim()}${typeof e.code === 'number' ? ` (code ${e.code})` : ''}`)
    .join('; ');
}

/**
 * Maps whatever the SDK threw into a TunnelError, by Cloudflare error code and HTTP status:
 * - 81053/81054/81057/81058 → RECORD_CONFLICT (the caller adds which record holds the name);
 * - 81044 → NOT_FOUND; 404 / 7003 → ZONE_NOT_FOUND or NOT_FOUND by what the call addresses;
 * - 10000 / 9109 / 401 / 403 → AUTH_FAILED, naming the permission the call needs;
 * - 429 → RATE_LIMITED with `details.retryAfterMs`;
 * - 5xx, 408, connection failures and timeouts → PROVIDER_UNAVAILABLE (retryable);
 * - 1056 → INGRESS_INVALID; 409 → CONCURRENT_CHANGE; any other 4xx → INVALID_INPUT.
 */
export function mapCloudflareError(error: unknown, op: ApiOperation, sdk: CloudflareSdk): TunnelError {
  if (isTunnelError(error)) return error;
  if (error instanceof sdk.APIConnectionTimeoutError) {
    return new TunnelError('PROVIDER_UNAVAILABLE', `The Cloudflare API did not answer in time to ${op.action}.`, {
      hint: 'Cloudflare or the network is slow; the call is safe to retry. Raise cloudflare.timeoutMs if it keeps happening.',
      details: { reason: 'timeout' },
      cause: error,
    });
  }
  if (error instanceof sdk.APIConnectionError) {
    return new TunnelError('PROVIDER_UNAVAILABLE', `Could not reach the Cloudflare API to ${op.action}.`, {
      hint: 'Check the network and cloudflare.baseUrl; the call is safe to retry.',
      details: { reason: 'connection' },
      cause: error,
    });
  }
  if (!(error instanceof sdk.APIError) || typeof error.status !== 'number') return toTunnelError(error);
  const status = error.status;
  const errors = Array.isArray(error.errors) ? error.errors : [];
  const codes = errors.map((e) => e.code).filter((c): c is number => typeof c === 'number');
  const text = describeErrors(errors);
  const details = { status, cloudflareCodes: codes, ...(op.subjectId ? { [op.subject]: op.subjectId } : {}) };
  const make = (code: ErrorCode, message: string, hint: string, extra: Record<string, unknown> = {}) =>
    new TunnelError(code, message, { hint, details: { ...details, ...extra }, cause: error });
  const has = (code: number) => codes.includes(code);

  if (status === 429 || has(CLOUDFLARE_CODES.rateLimited)) {
    const wait = retryAfterMs(error.headers);
    return make(
      'RATE_LIMITED',
      `Cloudflare rate-limited the request to ${op.action}.`,
      `Wait ${Math.ceil(wait / 1000)} s before calling again; the manager keeps under cloudflare.requestsPerFiveMinutes, but other clients may share the token.`,
      { retryAfterMs: wait },
    );
  }
  if (codes.some((c) => CLOUDFLARE_CODES.conflicts.includes(c))) {
    return make(
      'RECORD_CONFLICT',
      `Cloudflare refused to ${op.action}: ${text}.`,
      'Another DNS record already uses the name; list the records of that name to see which one.',
    );
  }
  if (has(CLOUDFLARE_CODES.recordNotFound)) {
    return make(
      'NOT_FOUND',
      `The DNS record does not exist (while trying to ${op.action}).`,
      'It may have been deleted already; list the records again.',
    );
  }
  if (has(CLOUDFLARE_CODES.authentication) || has(CLOUDFLARE_CODES.permission) || status === 401 || status === 403) {
    const missing = has(CLOUDFLARE_CODES.authentication) || status === 401;
    return make(
      'AUTH_FAILED',
      missing
        ? `Cloudflare did not accept the API token (while trying to ${op.action}).`
        : `The Cloudflare API token lacks the permission to ${op.action}.`,
      missing
        ? `Check cloudflare.apiToken (or CLOUDFLARE_API_TOKEN): the token may be mistyped, expired or revoked. It needs the permission "${op.permission}".`
        : `Edit the token at https://dash.cloudflare.com/profile/api-tokens and grant "${op.permission}"${op.subject === 'zone' ? ' for this zone' : ''}.`,
      { permission: op.permission },
    );
  }
  if (status >= 500 || status === 408) {
    return make(
      'PROVIDER_UNAVAILABLE',
      `The Cloudflare API failed (HTTP ${status}) to ${op.action}.`,
      'Cloudflare is having trouble; the call is safe to retry later.',
    );
  }
  if (status === 404 || has(CLOUDFLARE_CODES.invalidIdentifier)) {
    if (op.subject === 'zone') {
      return make(
        'ZONE_NOT_FOUND',
        `No zone ${op.subjectId ?? '(unnamed)'} is visible to the API token.`,
        'List the zones the token can see; the zone may have been removed, or the token may not include it.',
      );
    }
    if (op.subject === 'tunnel') {
      return make(
        'NOT_FOUND',
        `Cloudflare has no tunnel ${op.subjectId ?? '(unnamed)'} in this account.`,
        'Check cloudflare.tunnelId and cloudflare.accountId (`cloudflared tunnel list` shows the ids).',
      );
    }
    return make(
      'NOT_FOUND',
      `Cloudflare found nothing to ${op.action}.`,
      'It may have been deleted already; list again.',
    );
  }
  if (has(CLOUDFLARE_CODES.tunnelConfigInvalid)) {
    return make(
      'INGRESS_INVALID',
      `Cloudflare refused the tunnel configuration: ${text}.`,
      'Fix the ingress rules named above; nothing was written.',
    );
  }
  if (status === 409) {
    return make(
      'CONCURRENT_CHANGE',
      `Cloudflare reported a conflicting change while trying to ${op.action}: ${text}.`,
      'Read the current state again and retry.',
    );
  }
  return make(
    'INVALID_INPUT',
    `Cloudflare refused to ${op.action}: ${text}.`,
    'Check the values named in the message; nothing was changed.',
  );
}
