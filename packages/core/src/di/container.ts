import 'reflect-metadata';
import { type DependencyContainer, instanceCachingFactory, container as rootContainer } from 'tsyringe';
import type { TunnelConfig } from '../config/schema.js';
import { TunnelError } from '../errors.js';
import { LocalFileIngressStore } from '../ingress/local-file-store.js';
import { ChildProcessController } from '../process/child-process-controller.js';
import { SystemdController } from '../process/systemd-controller.js';
import { NoopLogger } from '../runtime/loggers.js';
import { SystemClock } from '../runtime/system-clock.js';
import { SqliteStateStore } from '../state/sqlite-state-store.js';
import { TOKENS, type Token, type TokenName, type TokenType } from './tokens.js';

/**
 * A provider package's entry into the composition root (e.g. `cloudflarePlugin` from
 * `@tunnel/provider-cloudflare`). Core never imports a provider: front-ends pass the plugins.
 */
export interface ProviderPlugin {
  readonly name: string;
  /** Registers this provider's implementations for the ports the config asks it to serve. */
  register(container: DependencyContainer, config: TunnelConfig): void;
}

export interface ContainerOptions {
  /** Provider plugins, registered after core's embedded defaults (so they may replace them). */
  readonly plugins?: readonly ProviderPlugin[];
  /** Ready-made implementations, registered last (tests, library users with their own). */
  readonly overrides?: { readonly [K in TokenName]?: TokenType<K> };
  /** @default tsyringe's root container */
  readonly parent?: DependencyContainer;
}

function registerSingleton<T>(c: DependencyContainer, token: Token<T>, make: (c: DependencyContainer) => T): void {
  c.register(token, { useFactory: instanceCachingFactory(make) });
}

/**
 * The composition root: one child container per manager, built from config. Registers the
 * embedded defaults (system clock, no-op logger, SQLite state store, the `config.yml` ingress
 * store when `ingress.mode` is `local`, the child-process or systemd ProcessController per
 * `cloudflared.controller`), then each plugin, then the overrides. Nothing is constructed until
 * it is resolved.
 */
export function createTunnelManagerContainer(
  config: TunnelConfig,
  options: ContainerOptions = {},
): DependencyContainer {
  const c = (options.parent ?? rootContainer).createChildContainer();
  c.register(TOKENS.Config, { useValue: config });
  c.register(TOKENS.Clock, { useValue: new SystemClock() });
  c.register(TOKENS.Logger, { useValue: new NoopLogger() });
  registerSingleton(c, TOKENS.StateStore, () =>
    SqliteStateStore.open({ path: config.database.path, busyTimeoutMs: config.database.busyTimeoutMs }),
  );
  if (config.ingress.mode === 'local') {
    registerSingleton(
      c,
      TOKENS.IngressStore,
      (r) =>
        new LocalFileIngressStore({
          path: config.ingress.configPath,
          backupDir: config.ingress.backupDir,
          backups: config.ingress.backups,
          lockStaleMs: config.ingress.lockStaleMs,
          lockTimeoutMs: config.locks.mutationTimeoutMs,
          clock: r.resolve(TOKENS.Clock),
          logger: r.resolve(TOKENS.Logger),
        }),
    );
  }
  // cloudflared run by the daemon itself or by systemd; `docker` comes from the Docker plugin,
  // `none` registers nothing (monitor only).
  if (config.cloudflared.controller === 'child') {
    registerSingleton(c, TOKENS.ProcessController, (r) =>
      ChildProcessController.fromConfig(config, { clock: r.resolve(TOKENS.Clock), logger: r.resolve(TOKENS.Logger) }),
    );
  } else if (config.cloudflared.controller === 'systemd') {
    registerSingleton(c, TOKENS.ProcessController, (r) =>
      SystemdController.fromConfig(config, { logger: r.resolve(TOKENS.Logger) }),
    );
  }
  for (const plugin of options.plugins ?? []) plugin.register(c, config);
  for (const [name, value] of Object.entries(options.overrides ?? {})) {
    c.register(TOKENS[name as TokenName], { useValue: value });
  }
  return c;
}

/** Resolves a port, or explains which plugin or setting would provide it. */
export function resolvePort<K extends TokenName>(c: DependencyContainer, name: K): TokenType<K> {
  const t = TOKENS[name];
  if (!c.isRegistered(t, true)) {
    throw new TunnelError('CONFIG_INVALID', `Nothing provides ${name} in this configuration.`, {
      hint: `Pass the provider plugin that implements ${name} (e.g. cloudflarePlugin from @tunnel/provider-cloudflare, dockerPlugin from @tunnel/provider-docker), or an override.`,
    });
  }
  return c.resolve(t) as TokenType<K>;
}
