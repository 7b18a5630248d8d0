import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IngressRule, Secret, SqliteStateStore } from '@tunnel/core';
import type { CloudflareEmulator } from '@tunnel/testkit';
import {
  describeDnsProviderConformance,
  describeIngressStoreConformance,
  INGRESS_CONFORMANCE_RULES,
} from '@tunnel/testkit/conformance';
import Cloudflare from 'cloudflare';
import { afterAll } from 'vitest';
import { CloudflareApi, CloudflareDnsProvider, RemoteIngressStore } from '../src/index.js';
import { ACCOUNT, api, emulator } from './helpers.js';

const remoteRules = (rules: readonly IngressRule[]) => rules.map(({ managed: _, ...rule }) => rule);

// --- against the emulator ---

let shared: Promise<{ cf: CloudflareEmulator; zoneId: string }> | undefined;
const started = () => {
  shared ??= emulator();
  return shared;
};
const dirs: string[] = [];
afterAll(async () => {
  if (shared) await (await shared).cf.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describeDnsProviderConformance('CloudflareDnsProvider (emulator)', async () => {
  const { cf, zoneId } = await started();
  return {
    provider: new CloudflareDnsProvider(api(cf)),
    zone: { id: zoneId, name: 'example.com' },
    seedForeignRecord: async (record) => void cf.addRecord({ zoneId, ...record }),
  };
});

describeIngressStoreConformance('RemoteIngressStore (emulator)', async () => {
  const { cf } = await started();
  const tunnel = cf.addTunnel({ accountId: ACCOUNT, config: { ingress: remoteRules(INGRESS_CONFORMANCE_RULES) } });
  const dir = mkdtempSync(join(tmpdir(), 'tm-remote-conf-'));
  dirs.push(dir);
  return {
    store: new RemoteIngressStore(api(cf), {
      accountId: ACCOUNT,
      tunnelId: tunnel.id,
      owners: SqliteStateStore.open({ path: join(dir, 'state.db') }).ingressOwners,
    }),
  };
});

// --- against real Cloudflare, when credentials are in the environment ---

const env = process.env;
const dnsSkip = !env.CLOUDFLARE_API_TOKEN
  ? 'CLOUDFLARE_API_TOKEN is not set'
  : !env.CLOUDFLARE_ACCOUNT_ID
    ? 'CLOUDFLARE_ACCOUNT_ID is not set'
    : !env.CLOUDFLARE_TEST_ZONE
      ? 'CLOUDFLARE_TEST_ZONE (a zone name the token may edit records in) is not set'
      : undefined;
const ingressSkip =
  dnsSkip ??
  (!env.CLOUDFLARE_TEST_TUNNEL_ID
    ? 'CLOUDFLARE_TEST_TUNNEL_ID (a remotely-managed tunnel whose configuration the suite may overwrite) is not set'
    : undefined);

const realApi = () =>
  new CloudflareApi({
    apiToken: new Secret(env.CLOUDFLARE_API_TOKEN ?? ''),
    ...(env.CLOUDFLARE_BASE_URL ? { baseUrl: env.CLOUDFLARE_BASE_URL } : {}),
  });
const realSdk = () =>
  new Cloudflare({
    apiToken: env.CLOUDFLARE_API_TOKEN ?? '',
    apiKey: null,
    apiEmail: null,
    ...(env.CLOUDFLARE_BASE_URL ? { baseURL: env.CLOUDFLARE_BASE_URL } : {}),
  });

describeDnsProviderConformance(
  'CloudflareDnsProvider (real Cloudflare)',
  async () => {
    const provider = new CloudflareDnsProvider(realApi());
    const name = (env.CLOUDFLARE_TEST_ZONE ?? '').toLowerCase();
    const zone = (await provider.listZones()).find((z) => z.name === name);
    if (!zone) throw new Error(`The token cannot see the zone ${name}`);
    const client = realSdk();
    return {
      provider,
      zone: { id: zone.id, name: zone.name },
      seedForeignRecord: async (r) => {
        await client.dns.records.create({
          zone_id: zone.id,
          type: r.type,
          name: r.name,
          content: r.content,
          ...(r.comment ? { comment: r.comment } : {}),
          ttl: 1,
        } as never);
      },
    };
  },
  { skipReason: dnsSkip },
);

describeIngressStoreConformance(
  'RemoteIngressStore (real Cloudflare)',
  async () => {
    const accountId = env.CLOUDFLARE_ACCOUNT_ID ?? '';
    const tunnelId = env.CLOUDFLARE_TEST_TUNNEL_ID ?? '';
    const configs = realSdk().zeroTrust.tunnels.cloudflared.configurations;
    const original = await configs.get(tunnelId, { account_id: accountId });
    await configs.update(tunnelId, {
      account_id: accountId,
      config: { ...(original.config ?? {}), ingress: remoteRules(INGRESS_CONFORMANCE_RULES) } as never,
    });
    const dir = mkdtempSync(join(tmpdir(), 'tm-remote-real-'));
    return {
      store: new RemoteIngressStore(realApi(), {
        accountId,
        tunnelId,
        owners: SqliteStateStore.open({ path: join(dir, 'state.db') }).ingressOwners,
      }),
      cleanup: async () => {
        rmSync(dir, { recursive: true, force: true });
        if (original.config?.ingress?.length) {
          await configs.update(tunnelId, { account_id: accountId, config: original.config as never });
        }
      },
    };
  },
  { skipReason: ingressSkip },
);
