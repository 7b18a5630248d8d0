import {
  asInjectionToken,
  type Clock,
  type Logger,
  type ProviderPlugin,
  type StateStore,
  TOKENS,
  type TunnelConfig,
} from '@tunnel/core';
import type { CloudflaredHints } from './cloudflared-locator.js';
import { DockerContainerController } from './docker-container-controller.js';
import { DockerTopology } from './docker-topology.js';

/** Where the configuration says cloudflared runs: a named or labelled container, or the host. */
export function cloudflaredHints(config: TunnelConfig): CloudflaredHints {
  const { controller } = config.cloudflared;
  return {
    container:
      config.docker.cloudflaredContainer ?? (controller === 'docker' ? config.cloudflared.docker.container : undefined),
    label: config.docker.cloudflaredLabel,
    expectOnHost: controller === 'systemd' || controller === 'child',
  };
}

/**
 * The Docker provider: registers the Topology (always; with `docker.enabled: false` it reports
 * Docker as disabled) and, when `cloudflared.controller` is `docker`, the ProcessController for
 * the cloudflared container.
 */
export const dockerPlugin: ProviderPlugin = {
  name: 'docker',
  register(container, config): void {
    // One instance per manager container: the cache lives in this closure, which is per call.
    let topology: DockerTopology | undefined;
    container.register(TOKENS.Topology, {
      useFactory: (c) => {
        topology ??= new DockerTopology({
          enabled: config.docker.enabled,
          socketPath: config.docker.socketPath,
          ttlMs: config.docker.snapshotTtlMs,
          cache: c.resolve(asInjectionToken<StateStore>(TOKENS.StateStore)).topology,
          clock: c.resolve(asInjectionToken<Clock>(TOKENS.Clock)),
          logger: c.resolve(asInjectionToken<Logger>(TOKENS.Logger)).child({ component: 'docker-topology' }),
          cloudflared: cloudflaredHints(config),
        });
        return topology;
      },
    });
    if (config.cloudflared.controller === 'docker') {
      let controller: DockerContainerController | undefined;
      container.register(TOKENS.ProcessController, {
        useFactory: () => {
          controller ??= new DockerContainerController({
            socketPath: config.docker.socketPath,
            container: config.cloudflared.docker.container,
            gracePeriodMs: config.cloudflared.gracePeriodMs,
          });
          return controller;
        },
      });
    }
  },
};
