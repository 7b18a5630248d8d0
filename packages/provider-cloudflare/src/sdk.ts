import { TunnelError } from '@tunnel/core';

/**
 * The official SDK, loaded on first use. It is large (~0.8 s to import), so nothing imports it
 * statically: `tunnel --help`, `tunnel status` from the database, or a process that only reads
 * local state never pays for it. Only types come from it at compile time.
 */
export type CloudflareSdk = typeof import('cloudflare');
export type CloudflareClient = import('cloudflare').Cloudflare;

let loading: Promise<CloudflareSdk> | undefined;

/** Imports the `cloudflare` package once per process. */
export function loadCloudflareSdk(): Promise<CloudflareSdk> {
  loading ??= import('cloudflare').catch((error: unknown) => {
    loading = undefined;
    throw new TunnelError('INTERNAL', `The Cloudflare SDK (the "cloudflare" package) could not be loaded.`, {
      hint: 'Reinstall Tunnel Manager: @tunnel/provider-cloudflare depends on cloudflare@7.3.0.',
      cause: error,
    });
  });
  return loading;
}
