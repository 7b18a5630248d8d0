import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CloudflareEmulator, startCloudflareEmulator } from '@tunnel/testkit';
import { tempDir } from './io.js';

export const TUNNEL_ID = 'c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01';
export const ACCOUNT = '5a7b1c9d3e2f40618a9b7c6d5e4f3a21';
export const TOKEN = 'cli-test-token';

/**
 * The configuration variables of a manager on the emulated API with no daemon: restarts are only
 * queued (`restart.waitForRestart: false`), nothing supervises cloudflared (`controller: none`)
 * and Docker is off.
 */
export function managerEnv(o: {
  dir: string;
  ingressPath: string;
  apiUrl: string;
  tunnelId?: string;
  account?: string;
  token?: string;
}): Record<string, string> {
  return {
    TM_DATA_DIR: o.dir,
    TM_INGRESS__CONFIG_PATH: o.ingressPath,
    TM_CLOUDFLARE__API_TOKEN: o.token ?? TOKEN,
    TM_CLOUDFLARE__BASE_URL: o.apiUrl,
    TM_CLOUDFLARE__ACCOUNT_ID: o.account ?? ACCOUNT,
    TM_CLOUDFLARE__TUNNEL_ID: o.tunnelId ?? TUNNEL_ID,
    TM_CLOUDFLARE__MAX_RETRIES: '0',
    TM_CLOUDFLARED__CONTROLLER: 'none',
    TM_DOCKER__ENABLED: 'false',
    TM_RESTART__WAIT_FOR_RESTART: 'false',
  };
}

export interface CliWorld {
  readonly cf: CloudflareEmulator;
  readonly env: Record<string, string>;
  /** cloudflared's config.yml: the tunnel and a catch-all. */
  readonly ingressPath: string;
  /** The id of `example.com`. */
  readonly zoneId: string;
}

/** The emulator (one account, `example.com`, a locally-managed tunnel), a config.yml and the env. */
export async function startCliWorld(extraEnv: Record<string, string> = {}): Promise<CliWorld> {
  const cf = await startCloudflareEmulator({
    seed: {
      accounts: [{ id: ACCOUNT, name: 'a' }],
      zones: [{ name: 'example.com', accountId: ACCOUNT }],
      tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT, configSrc: 'local', connectors: 1 }],
      tokens: [{ value: TOKEN, permissions: 'all' }],
    },
  });
  const dir = tempDir();
  const ingressPath = join(dir, 'cloudflared.yml');
  writeFileSync(ingressPath, `tunnel: ${TUNNEL_ID}\ningress:\n  - service: http_status:404\n`);
  const env = { ...managerEnv({ dir, ingressPath, apiUrl: cf.url }), ...extraEnv };
  return { cf, env, ingressPath, zoneId: cf.data.zones[0]?.id as string };
}
