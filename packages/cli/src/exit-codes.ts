import type { ErrorFamily } from '@tunnel/core';

/*
 * The CLI's exit codes. A type-only import of core keeps this module free of core's runtime,
 * so `tunnel --help` can print the table without loading core; a test checks that every
 * family in core's ERROR_CODES has a code here.
 */

/** The command did what was asked. */
export const EXIT_OK = 0;
/** The command ran and reports a failure that is not one error (e.g. `doctor` found problems). */
export const EXIT_FAILURE = 1;
/** Bad usage: unknown command or flag, missing or malformed argument. Nothing was done. */
export const EXIT_USAGE = 2;

/** One exit code per TunnelError family (`ERROR_CODES[code].family` in @tunnel/core). */
export const FAMILY_EXIT_CODES: Readonly<Record<ErrorFamily, number>> = {
  input: 3,
  ownership: 4,
  conflict: 5,
  provider: 6,
  state: 7,
  internal: 8,
};

const FAMILY_MEANING: Readonly<Record<ErrorFamily, string>> = {
  input:
    'bad input: hostname, argument, unknown zone or route (INVALID_HOSTNAME, INVALID_INPUT, ZONE_NOT_FOUND, NOT_FOUND)',
  ownership: 'not allowed: policy, ownership, quota (POLICY_DENIED, HOSTNAME_TAKEN, NOT_OWNER, QUOTA_EXCEEDED)',
  conflict:
    'conflict: DNS record, unreachable target, invalid ingress, concurrent change, lock (RECORD_CONFLICT, TARGET_UNREACHABLE, INGRESS_INVALID, CONCURRENT_CHANGE, LOCK_TIMEOUT)',
  provider:
    'provider: Cloudflare, Docker, systemd or cloudflared failed (RATE_LIMITED, PROVIDER_UNAVAILABLE, AUTH_FAILED)',
  state: 'local state: configuration or database (CONFIG_INVALID, STATE_CORRUPT)',
  internal: 'a bug in Tunnel Manager (INTERNAL)',
};

/** The exit code for an error of this family. */
export function exitCodeForFamily(family: ErrorFamily): number {
  return FAMILY_EXIT_CODES[family];
}

/** Every exit code with its meaning, in order: for `tunnel --help` and the README. */
export function exitCodeTable(): Array<{ code: number; meaning: string }> {
  return [
    { code: EXIT_OK, meaning: 'ok' },
    { code: EXIT_FAILURE, meaning: 'failure reported by the command (e.g. `doctor` found a problem)' },
    { code: EXIT_USAGE, meaning: 'usage: unknown command or flag, missing or malformed argument' },
    ...(Object.keys(FAMILY_EXIT_CODES) as ErrorFamily[]).map((family) => ({
      code: FAMILY_EXIT_CODES[family],
      meaning: FAMILY_MEANING[family],
    })),
  ];
}

/** The table as plain text lines (`  3  bad input: …`). */
export function renderExitCodes(indent = '  '): string {
  return exitCodeTable()
    .map(({ code, meaning }) => `${indent}${String(code).padEnd(3)}${meaning}`)
    .join('\n');
}

/** The table as Markdown, for the README (kept equal by `pnpm run docs` and a test). */
export function renderExitCodesMarkdown(): string {
  return [
    '| exit code | meaning |',
    '| --- | --- |',
    ...exitCodeTable().map((r) => `| ${r.code} | ${r.meaning} |`),
  ].join('\n');
}
