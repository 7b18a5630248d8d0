import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, normalize, relative, sep } from 'node:path';
import {
  ORIGIN_SETTING_NAMES,
  ORIGIN_SETTING_TYPES,
  type OriginSettingName,
  type OriginSettings,
  originRequestFor,
} from '../domain/route-options.js';
import { TunnelError } from '../errors.js';
import { parseGoDuration } from '../ingress/go-compat.js';
import { checkOriginRequest } from '../ingress/origin-request.js';
import type { IngressProblem } from '../ingress/problems.js';
import { MAX_RULE_VALUE_LENGTH } from '../ingress/safety.js';
import { compilePathRegex } from '../ingress/validate.js';

/** Longest duration a route may set: an hour is already far beyond any sane origin timeout. */
const MAX_DURATION_SECONDS = 3600;
const MAX_KEEPALIVE_CONNECTIONS = 10_000;
/** A DNS-ish name with an optional port: what `originServerName` and `httpHostHeader` carry. */
const NAME_PATTERN = /^[A-Za-z0-9*](?:[A-Za-z0-9._*-]{0,252})(?::[0-9]{1,5})?$/;

export interface RouteOptionsPolicy {
  /** Directories a route's `caPool` may be in (`policy.caPoolDirs`). */
  readonly caPoolDirs: readonly string[];
}

const shown = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
    : `a ${value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value}`;

function invalid(message: string, hint: string, field: string): TunnelError {
  return new TunnelError('INVALID_INPUT', message, { hint, details: { field } });
}

/**
 * A route's path as cloudflared reads it: an RE2 regex matched (unanchored) against the request
 * path. Absent, null or "" mean "no path" (null). Refused with `INVALID_INPUT` when it does not
 * compile as RE2 (cloudflared would refuse the whole configuration) or is not single-line text.
 */
export function parseRoutePath(input: unknown, field = 'path'): string | null {
  if (input === undefined || input === null || input === '') return null;
  if (typeof input !== 'string') {
    throw invalid(`"${field}" must be a string, got ${shown(input)}.`, 'Pass an RE2 regex such as "^/api/".', field);
  }
  if (input.length > MAX_RULE_VALUE_LENGTH || /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(input)) {
    throw invalid(
      `"${field}" ${shown(input)} is not a single-line regex of at most ${MAX_RULE_VALUE_LENGTH} characters.`,
      'Pass an RE2 regex such as "^/api/".',
      field,
    );
  }
  const compiled = compilePathRegex(input);
  if ('error' in compiled) {
    throw invalid(
      `"${field}" ${shown(input)} is not a valid RE2 regular expression: ${compiled.error}.`,
      'cloudflared matches paths with Go’s RE2 syntax: no lookaround, no backreferences. Example: "^/api/".',
      field,
    );
  }
  return input;
}

function durationSeconds(name: string, value: unknown): number {
  const field = `originRequest.${name}`;
  const hint = 'Pass a Go duration of whole seconds such as "30s" or "2m".';
  if (typeof value !== 'string') throw invalid(`${field} must be a duration string, got ${shown(value)}.`, hint, field);
  const parsed = parseGoDuration(value);
  if (!parsed.ok) throw invalid(`${field} ${shown(value)} is not a duration (${parsed.error}).`, hint, field);
  const ns = parsed.value;
  // The remote configuration carries durations as whole seconds: anything finer would differ
  // between the two stores, so it is refused rather than rounded.
  if (ns <= 0n || ns % 1_000_000_000n !== 0n || ns / 1_000_000_000n > BigInt(MAX_DURATION_SECONDS)) {
    throw invalid(`${field} ${shown(value)} must be whole seconds from 1s to 1h.`, hint, field);
  }
  return Number(ns / 1_000_000_000n);
}

/** `caPool` must be an absolute path inside an allowed directory, to a readable PEM file. */
function caPoolPath(value: unknown, policy: RouteOptionsPolicy): string {
  const field = 'originRequest.caPool';
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${field} must be a file path, got ${shown(value)}.`, 'Pass an absolute path to a PEM file.', field);
  }
  if (policy.caPoolDirs.length === 0) {
    throw new TunnelError('POLICY_DENIED', 'Routes may not set originRequest.caPool here: no directory is allowed.', {
      hint: 'Ask the operator to list the directory of your CA file in policy.caPoolDirs, or use originServerName / noTLSVerify.',
      details: { field },
    });
  }
  if (!isAbsolute(value) || normalize(value) !== value || value.length > 1024 || /[\p{Cc}]/u.test(value)) {
    throw invalid(
      `${field} ${shown(value)} must be an absolute, normalised path (no "..", no "//").`,
      `Pass e.g. "${policy.caPoolDirs[0]}${sep}origin-ca.pem".`,
      field,
    );
  }
  let real: string;
  try {
    real = realpathSync(value);
    accessSync(real, constants.R_OK);
  } catch {
    throw invalid(
      `${field} ${shown(value)} does not exist or is not readable.`,
      'cloudflared reads the file when it starts and refuses to start without it; create it first (mode 0644 or readable by cloudflared).',
      field,
    );
  }
  // Checked on the resolved path, so a symlink cannot lead out of an allowed directory.
  const inside = policy.caPoolDirs.some((dir) => {
    let base: string;
    try {
      base = realpathSync(dir);
    } catch {
      return false;
    }
    const rel = relative(base, real);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  });
  if (!inside) {
    throw new TunnelError('POLICY_DENIED', `${field} ${shown(value)} is outside the allowed directories.`, {
      hint: `Put the CA file in one of: ${policy.caPoolDirs.join(', ')} (policy.caPoolDirs).`,
      details: { field, allowed: policy.caPoolDirs },
    });
  }
  const head = readFileSync(real, { encoding: 'utf8' }).slice(0, 65_536);
  if (!head.includes('-----BEGIN CERTIFICATE-----')) {
    throw invalid(
      `${field} ${shown(value)} holds no PEM certificate.`,
      'cloudflared loads caPool as PEM ("-----BEGIN CERTIFICATE-----"); convert DER files with `openssl x509 -inform der`.',
      field,
    );
  }
  return value;
}

/**
 * Checks a route's origin settings against the allow-list and canonicalises them (durations to
 * whole seconds: `"1m"` → `"60s"`), then type-checks the result in both store formats with the
 * same decoder model the ingress validator uses, so a setting cloudflared would refuse is
 * refused here, before anything is touched. Absent, null or `{}` mean none (null).
 *
 * @throws TunnelError `INVALID_INPUT` (unknown or ill-typed setting), `POLICY_DENIED` (`caPool`
 * outside `policy.caPoolDirs`).
 */
export function parseOriginSettings(input: unknown, policy: RouteOptionsPolicy): OriginSettings | null {
  if (input === undefined || input === null) return null;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw invalid(
      `"originRequest" must be an object, got ${shown(input)}.`,
      'Pass e.g. { "noTLSVerify": true }.',
      'originRequest',
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    const field = `originRequest.${key}`;
    if (!(ORIGIN_SETTING_NAMES as string[]).includes(key)) {
      throw invalid(
        `${field} is not a setting a route may use.`,
        `Allowed: ${ORIGIN_SETTING_NAMES.join(', ')}. Others (access, ipRules, proxies, bastionMode) are the operator's to set.`,
        field,
      );
    }
    if (value === undefined || value === null) continue;
    const type = ORIGIN_SETTING_TYPES[key as OriginSettingName];
    switch (type) {
      case 'bool':
        if (typeof value !== 'boolean')
          throw invalid(`${field} must be true or false, got ${shown(value)}.`, `Pass ${key}: true.`, field);
        out[key] = value;
        break;
      case 'name':
        if (typeof value !== 'string' || !NAME_PATTERN.test(value))
          throw invalid(
            `${field} must be a host name (optionally with :port), got ${shown(value)}.`,
            'Pass e.g. "app.internal" or "app.internal:8443".',
            field,
          );
        out[key] = value;
        break;
      case 'duration':
        out[key] = `${durationSeconds(key, value)}s`;
        break;
      case 'count':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_KEEPALIVE_CONNECTIONS)
          throw invalid(
            `${field} must be an integer from 0 to ${MAX_KEEPALIVE_CONNECTIONS}, got ${shown(value)}.`,
            'Pass e.g. 100.',
            field,
          );
        out[key] = value;
        break;
      case 'caPool':
        out[key] = caPoolPath(value, policy);
        break;
    }
  }
  if (Object.keys(out).length === 0) return null;
  const settings = out as OriginSettings;
  for (const format of ['yaml', 'json'] as const) {
    const errors: IngressProblem[] = [];
    checkOriginRequest(originRequestFor(settings, format), null, format, errors, []);
    const first = errors[0];
    if (first) {
      throw invalid(
        `cloudflared would refuse these origin settings: ${first.message}.`,
        'Fix the setting and retry; nothing was written.',
        first.field ?? 'originRequest',
      );
    }
  }
  return settings;
}
