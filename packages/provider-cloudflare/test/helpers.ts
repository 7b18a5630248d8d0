import { type Clock, Secret } from '@tunnel/core';
import {
  type CloudflareEmulator,
  type CloudflareEmulatorOptions,
  type ManualClock,
  startCloudflareEmulator,
} from '@tunnel/testkit';
import {
  CloudflareApi,
  type CloudflareApiOptions,
  CloudflareDnsProvider,
  type CloudflareDnsProviderOptions,
} from '../src/index.js';

export const TOKEN = 'provider-test-token';
export const ACCOUNT = 'a'.repeat(32);
export const TUNNEL = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
export const TARGET = `${TUNNEL}.cfargotunnel.com`;

/** An emulator with one account, the zone example.com and a token holding every permission (plus `seed`). */
export async function emulator(
  options: CloudflareEmulatorOptions = {},
): Promise<{ cf: CloudflareEmulator; zoneId: string }> {
  const cf = await startCloudflareEmulator({
    ...options,
    seed: {
      ...options.seed,
      accounts: [{ id: ACCOUNT, name: 'Main' }, ...(options.seed?.accounts ?? [])],
      zones: [{ name: 'example.com' }, ...(options.seed?.zones ?? [])],
      tokens: [{ value: TOKEN, permissions: 'all' }, ...(options.seed?.tokens ?? [])],
    },
  });
  const zoneId = cf.data.zones.find((z) => z.name === 'example.com')?.id ?? '';
  return { cf, zoneId };
}

/** Every client a test made, so `drive` can tell when no request is in flight. */
const clients = new Set<CloudflareApi>();

export function api(
  cf: CloudflareEmulator,
  options: Partial<CloudflareApiOptions> & { clock?: Clock } = {},
): CloudflareApi {
  const client = new CloudflareApi({ apiToken: new Secret(TOKEN), baseUrl: cf.url, ...options });
  clients.add(client);
  return client;
}

export function dns(
  cf: CloudflareEmulator,
  options: Partial<CloudflareApiOptions> & CloudflareDnsProviderOptions = {},
): CloudflareDnsProvider {
  return new CloudflareDnsProvider(api(cf, options), options);
}

/**
 * Waits for `work` while moving a ManualClock to each timer it sets (backoff, budget pauses).
 * Time moves only while no request is in flight (so a request is logged at the instant it was
 * sent); otherwise it yields to I/O briefly. This pumps the clock; it asserts nothing about
 * wall-clock time.
 */
export async function drive<T>(clock: ManualClock, work: Promise<T>): Promise<T> {
  let settled = false;
  work.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  while (!settled) {
    const idle = [...clients].every((c) => c.inFlight === 0);
    if (idle && clock.pendingDelays().length > 0) await clock.advanceToNextTimer();
    else await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return work;
}

/** The TunnelError a call fails with. */
export async function failureOf(call: Promise<unknown>): Promise<import('@tunnel/core').TunnelError> {
  try {
    await call;
  } catch (error) {
    return error as import('@tunnel/core').TunnelError;
  }
  throw new Error('expected the call to fail');
}
