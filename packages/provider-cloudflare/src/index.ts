/**
 * @tunnel/provider-cloudflare — DNS, tunnel status and remote ingress on Cloudflare, through the
 * official SDK (loaded lazily, at the first API call). Named exports only.
 */
export { CloudflareApi, type CloudflareApiOptions, DEFAULT_BASE_URL } from './api.js';
export { RequestBudget, type RequestBudgetOptions } from './budget.js';
export {
  CloudflareDnsProvider,
  type CloudflareDnsProviderOptions,
  MAX_COMMENT_LENGTH,
  ownerMark,
} from './dns-provider.js';
export {
  type ApiOperation,
  CLOUDFLARE_CODES,
  type CloudflarePermission,
  mapCloudflareError,
  PERMISSIONS,
} from './errors.js';
export { cloudflarePlugin, createCloudflareApi, remoteIngressOwnersPath } from './plugin.js';
export { RemoteIngressStore, type RemoteIngressStoreOptions } from './remote-ingress-store.js';
export { type ImportResult, importingOwners, importLegacyOwnersFile } from './remote-owners-import.js';
export { type CloudflareClient, type CloudflareSdk, loadCloudflareSdk } from './sdk.js';
export { type CloudflareTunnelRef, CloudflareTunnelStatus } from './tunnel-status.js';
