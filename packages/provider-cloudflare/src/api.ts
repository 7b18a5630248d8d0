import { type Clock, isTunnelError, type Logger, NoopLogger, type Secret, SystemClock } from '@tunnel/core';
import { RequestBudget } from './budget.js';
import { type ApiOperation, mapCloudflareError } from './errors.js';
import { type CloudflareClient, type CloudflareSdk, loadCloudflareSdk } from './sdk.js';

export const DEFAULT_BASE_URL = 'https://api.cloudflare.com/client/v4';

export interface CloudflareApiOptions {
  /** The API token; revealed only when the SDK client is built. */
  readonly apiToken: Secret;
  /** @default the real API, https://api.cloudflare.com/client/v4 */
  readonly baseUrl?: string | undefined;
  /** Timeout of one request. @default 30_000 */
  readonly timeoutMs?: number;
  /**
   * Retries of a call that failed with PROVIDER_UNAVAILABLE (connection, timeout, 5xx), with
   * exponential backoff on the clock. Only idempotent calls are retried blindly; creates and
   * batches check what happened first. @default 2
   */
  readonly maxRetries?: number;
  /** Budget per 5 minutes, when no shared `budget` is given. @default 1000 */
  readonly requestsPerFiveMinutes?: number;
  /** A budget shared with other clients of the same token. */
  readonly budget?: RequestBudget;
  /** @default the system clock */
  readonly clock?: Clock;
  /** @default no logging */
  readonly logger?: Logger;
  /** How the SDK is loaded. @default a dynamic `import('cloudflare')` at first use */
  readonly loadSdk?: () => Promise<CloudflareSdk>;
}

/**
 * One Cloudflare API token's access, shared by the DNS provider, the tunnel status source and the
 * remote ingress store: the lazily-built SDK client (its own retries off, so every call is one
 * request), the request budget, error mapping and retries of idempotent calls.
 */
export class CloudflareApi {
  readonly budget: RequestBudget;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxRetries: number;
  readonly #options: CloudflareApiOptions;
  #client: Promise<{ sdk: CloudflareSdk; client: CloudflareClient }> | undefined;
  #inFlight = 0;

  constructor(options: CloudflareApiOptions) {
    this.#options = options;
    this.clock = options.clock ?? new SystemClock();
    this.logger = options.logger ?? new NoopLogger();
    this.maxRetries = options.maxRetries ?? 2;
    this.budget =
      options.budget ?? new RequestBudget({ limit: options.requestsPerFiveMinutes ?? 1000, clock: this.clock });
  }

  #connect(): Promise<{ sdk: CloudflareSdk; client: CloudflareClient }> {
    this.#client ??= (this.#options.loadSdk ?? loadCloudflareSdk)().then((sdk) => ({
      sdk,
      client: new sdk.Cloudflare({
        apiToken: this.#options.apiToken.reveal(),
        // Only the token authenticates: ignore CLOUDFLARE_API_KEY / CLOUDFLARE_EMAIL in the env.
        apiKey: null,
        apiEmail: null,
        userServiceKey: null,
        baseURL: this.#options.baseUrl ?? DEFAULT_BASE_URL,
        timeout: this.#options.timeoutMs ?? 30_000,
        // Retries live here, on the injected clock and after checking what a lost call did.
        maxRetries: 0,
        // The SDK's own logging could print request details; the manager logs for itself.
        logLevel: 'off',
      }),
    }));
    this.#client.catch(() => {
      this.#client = undefined;
    });
    return this.#client;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Backoff before retry `attempt` (0-based): 0.5 s doubling, at most 8 s (the SDK's curve). */
  backoffMs(attempt: number): number {
    return Math.min(500 * 2 ** attempt, 8_000);
  }

  /**
   * Makes one API call under the budget and maps its failure. With `idempotent`, a
   * PROVIDER_UNAVAILABLE failure is retried up to `maxRetries` times after a backoff.
   */
  async call<T>(
    op: ApiOperation,
    request: (client: CloudflareClient) => Promise<T>,
    options: { readonly idempotent: boolean },
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.budget.run(async () => {
          const { sdk, client } = await this.#connect();
          this.#inFlight += 1;
          try {
            return await request(client);
          } catch (error) {
            throw mapCloudflareError(error, op, sdk);
          } finally {
            this.#inFlight -= 1;
          }
        });
      } catch (error) {
        if (!options.idempotent || !isTunnelError(error, 'PROVIDER_UNAVAILABLE') || attempt >= this.maxRetries) {
          throw error;
        }
        this.logger.warn('Cloudflare API call failed; retrying', {
          action: op.action,
          attempt: attempt + 1,
          reason: error.details?.reason ?? error.details?.status,
        });
        await this.clock.sleep(this.backoffMs(attempt));
      }
    }
  }
}
