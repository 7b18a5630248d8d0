import {
  asInjectionToken,
  type DnsProvider,
  isTunnelError,
  type ProviderPlugin,
  TOKENS,
  type TunnelStatusSource,
} from '@tunnel/core';

/** Receives one call to a provider's API: which method, `ok` or the error code, and how long it took. */
export type ProviderCallObserver = (provider: string, method: string, outcome: string, seconds: number) => void;

type Container = Parameters<ProviderPlugin['register']>[0];

/** Wraps every method of `target` named in `methods` so each call is reported to `observe`. */
function metered<T extends object>(
  target: T,
  provider: string,
  methods: readonly (keyof T & string)[],
  observe: ProviderCallObserver,
): T {
  const wrapped = Object.create(target) as T;
  for (const method of methods) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    (wrapped as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const started = performance.now();
      try {
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        observe(provider, method, 'ok', (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        observe(provider, method, isTunnelError(error) ? error.code : 'INTERNAL', (performance.now() - started) / 1000);
        throw error;
      }
    };
  }
  return wrapped;
}

const DNS_METHODS = ['listZones', 'listRecords', 'createCname', 'deleteRecord', 'applyBatch'] as const;

/**
 * A decorator for a provider plugin: the DnsProvider and TunnelStatusSource it registers are
 * wrapped so that each call is counted and timed (the daemon's `tunnel_provider_*` metrics).
 * The plugin registers into a child container of its own; the wrapped ports are registered in
 * the manager's container, so everything else resolves them as usual.
 */
export function meteredPlugin(plugin: ProviderPlugin, observe: ProviderCallObserver): ProviderPlugin {
  return {
    name: `${plugin.name} (metered)`,
    register(container: Container, config) {
      const inner = container.createChildContainer();
      plugin.register(inner, config);
      const dns = asInjectionToken<DnsProvider>(TOKENS.DnsProvider);
      const status = asInjectionToken<TunnelStatusSource>(TOKENS.TunnelStatusSource);
      if (inner.isRegistered(dns, false)) {
        let instance: DnsProvider | undefined;
        container.register(dns, {
          useFactory: () => (instance ??= metered(inner.resolve(dns), plugin.name, DNS_METHODS, observe)),
        });
      }
      if (inner.isRegistered(status, false)) {
        let instance: TunnelStatusSource | undefined;
        container.register(status, {
          useFactory: () => (instance ??= metered(inner.resolve(status), plugin.name, ['getTunnel'], observe)),
        });
      }
      // Everything else the plugin registered (e.g. a remote IngressStore) is passed through as is.
      for (const name of Object.keys(TOKENS) as Array<keyof typeof TOKENS>) {
        const token = asInjectionToken(TOKENS[name] as symbol);
        if (name === 'DnsProvider' || name === 'TunnelStatusSource' || !inner.isRegistered(token, false)) continue;
        container.register(token, { useFactory: () => inner.resolve(token) });
      }
    },
  };
}
