import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';

/*
 * The tunnel credentials cloudflared needs to start a locally-configured tunnel. Without them
 * `cloudflared tunnel run` exits 1 at once ("tunnel credentials file not found"); with another
 * tunnel's, it runs but the edge refuses every connection ("Unauthorized: Invalid tunnel
 * secret") and it never becomes ready. Read-only: nothing here prints or keeps the secret.
 */

/** What `inspectTunnelCredentials` found. `ok: false` comes with what is wrong and how to fix it. */
export type TunnelCredentialsReport =
  | {
      readonly ok: true;
      /** The credentials file used. */
      readonly path: string;
      readonly tunnelId: string;
      /** How cloudflared finds it: named by `credentials-file`, or found by its `<id>.json` search. */
      readonly found: 'named' | 'searched';
    }
  | {
      readonly ok: false;
      readonly problem: 'no-tunnel' | 'not-found' | 'missing' | 'unreadable' | 'invalid' | 'tunnel-mismatch';
      readonly detail: string;
      readonly fix: string;
    };

/** Where cloudflared looks for `<tunnel id>.json` when `credentials-file` is not set (Linux). */
export function defaultCredentialsDirs(): string[] {
  const home = homedir();
  return [
    join(home, '.cloudflared'),
    join(home, '.cloudflare-warp'),
    join(home, 'cloudflare-warp'),
    '/etc/cloudflared',
    '/usr/local/etc/cloudflared',
  ];
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const sameUuid = (a: string, b: string) => a.replace(/-/g, '').toLowerCase() === b.replace(/-/g, '').toLowerCase();

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function topLevelString(text: string, key: string): string | null {
  const doc = parseDocument(text, { version: '1.1' });
  if (doc.errors.length > 0 || !isMap(doc.contents)) return null;
  const node = doc.contents.get(key, true);
  return isScalar(node) && node.value !== null && node.value !== undefined ? String(node.value) : null;
}

/**
 * Checks the credentials a `config.yml` (its text) would start cloudflared with: present
 * (named by `credentials-file`, or `<tunnel id>.json` where cloudflared searches), readable,
 * JSON with a `TunnelID`, and that `TunnelID` is the config's `tunnel`.
 */
export function inspectTunnelCredentials(
  configText: string,
  options: { readonly configPath: string; readonly searchDirs?: readonly string[] },
): TunnelCredentialsReport {
  const tunnel = topLevelString(configText, 'tunnel');
  const named = topLevelString(configText, 'credentials-file');
  const fail = (problem: Extract<TunnelCredentialsReport, { ok: false }>['problem'], detail: string, fix: string) =>
    ({ ok: false, problem, detail, fix }) as const;
  if (tunnel === null) {
    return fail(
      'no-tunnel',
      `${options.configPath} names no tunnel`,
      'Add `tunnel: <tunnel id>` to it (`cloudflared tunnel list` shows the id).',
    );
  }
  const recreate = `\`cloudflared tunnel token --cred-file <path> ${tunnel}\` writes the tunnel's credentials again`;
  let path: string;
  let found: 'named' | 'searched';
  if (named !== null) {
    path = named.startsWith('~/') ? join(homedir(), named.slice(2)) : named;
    found = 'named';
    if (!isFile(path)) {
      return fail(
        'missing',
        `credentials-file ${named} does not exist (cloudflared exits: "Tunnel credentials file '${named}' doesn't exist or is not a file")`,
        `Point credentials-file at the JSON file \`cloudflared tunnel create\` wrote, or ${recreate}.`,
      );
    }
  } else {
    const dirs = options.searchDirs ?? defaultCredentialsDirs();
    const hit = UUID.test(tunnel) ? dirs.map((d) => join(d, `${tunnel}.json`)).find(isFile) : undefined;
    if (!hit) {
      return fail(
        'not-found',
        `${options.configPath} names no credentials-file and no ${UUID.test(tunnel) ? `${tunnel}.json` : 'credentials'} is where cloudflared looks (cloudflared exits: "tunnel credentials file not found")`,
        `Add \`credentials-file: /etc/cloudflared/<tunnel id>.json\` (the file \`cloudflared tunnel create\` wrote) to ${options.configPath}, or ${recreate}.`,
      );
    }
    path = hit;
    found = 'searched';
  }
  let body: string;
  try {
    body = readFileSync(path, 'utf8');
  } catch (error) {
    return fail(
      'unreadable',
      `${path} cannot be read by this user (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      `Let the user that runs cloudflared read ${path} (it is a secret: mode 0400 or 0440, not world-readable).`,
    );
  }
  let stored: unknown;
  try {
    stored = JSON.parse(body);
  } catch {
    stored = null;
  }
  // Go's encoding/json matches field names case-insensitively, as cloudflared reads them.
  const fields =
    stored && typeof stored === 'object'
      ? new Map(Object.entries(stored as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]))
      : null;
  const id = fields?.get('tunnelid');
  if (!fields?.has('tunnelsecret') || (id !== undefined && (typeof id !== 'string' || !UUID.test(id)))) {
    return fail(
      'invalid',
      `${path} is not a tunnel credentials file (cloudflared: "Invalid JSON when parsing tunnel credentials file")`,
      `Use the JSON file \`cloudflared tunnel create\` wrote (not cert.pem), or ${recreate}.`,
    );
  }
  if (typeof id === 'string' && UUID.test(tunnel) && !sameUuid(id, tunnel)) {
    return fail(
      'tunnel-mismatch',
      `${path} holds the credentials of tunnel ${id}, but ${options.configPath} runs tunnel ${tunnel}: the edge refuses them ("Unauthorized: Invalid tunnel secret") and cloudflared never becomes ready`,
      `Use tunnel ${tunnel}'s credentials (${recreate}), or set \`tunnel: ${id}\` if that is the tunnel meant.`,
    );
  }
  return { ok: true, path, tunnelId: typeof id === 'string' ? id : tunnel, found };
}
