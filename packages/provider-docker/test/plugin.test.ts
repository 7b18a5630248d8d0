import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTunnelManagerContainer,
  isTunnelError,
  parseConfig,
  resolvePort,
  type TunnelConfigInput,
} from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { cloudflaredHints, DockerContainerController, DockerTopology, dockerPlugin } from '../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const config = (input: TunnelConfigInput = {}) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tm-docker-di-'));
  dirs.push(dataDir);
  return parseConfig({ dataDir, ...input });
};

describe('dockerPlugin', () => {
  it('registers one DockerTopology per manager, caching into the state store', async () => {
    const cfg = config({ docker: { socketPath: '/nonexistent/docker.sock' } });
    const c = createTunnelManagerContainer(cfg, { plugins: [dockerPlugin] });
    const topology = resolvePort(c, 'Topology');
    expect(topology).toBeInstanceOf(DockerTopology);
    expect(resolvePort(c, 'Topology')).toBe(topology);
    expect((topology as DockerTopology).socketPath).toBe('/nonexistent/docker.sock');
    const snap = await topology.snapshot();
    expect(snap.docker.available).toBe(false);
    const store = resolvePort(c, 'StateStore');
    expect(await store.topology.load()).toEqual(snap);
    await topology.close?.();
    await store.close();

    const other = createTunnelManagerContainer(cfg, { plugins: [dockerPlugin] });
    expect(resolvePort(other, 'Topology')).not.toBe(topology);
  });

  it('registers the container ProcessController only for cloudflared.controller = docker', () => {
    const withDocker = createTunnelManagerContainer(
      config({ cloudflared: { controller: 'docker', docker: { container: 'edge-tunnel' }, gracePeriodMs: 15_000 } }),
      { plugins: [dockerPlugin] },
    );
    const controller = resolvePort(withDocker, 'ProcessController');
    expect(controller).toBeInstanceOf(DockerContainerController);
    expect((controller as DockerContainerController).container).toBe('edge-tunnel');
    expect(resolvePort(withDocker, 'ProcessController')).toBe(controller);

    // Any other controller is core's (systemd by default): the plugin leaves it alone.
    const withSystemd = createTunnelManagerContainer(config(), { plugins: [dockerPlugin] });
    expect(resolvePort(withSystemd, 'ProcessController')).not.toBeInstanceOf(DockerContainerController);
    expect(resolvePort(withSystemd, 'ProcessController').kind).toBe('systemd');
    const unmanaged = createTunnelManagerContainer(config({ cloudflared: { controller: 'none' } }), {
      plugins: [dockerPlugin],
    });
    try {
      resolvePort(unmanaged, 'ProcessController');
      throw new Error('expected CONFIG_INVALID');
    } catch (error) {
      expect(isTunnelError(error, 'CONFIG_INVALID')).toBe(true);
    }
  });

  it('derives where cloudflared runs from the configuration', () => {
    expect(cloudflaredHints(config())).toEqual({ container: undefined, label: undefined, expectOnHost: true });
    expect(cloudflaredHints(config({ cloudflared: { controller: 'child' } })).expectOnHost).toBe(true);
    expect(cloudflaredHints(config({ cloudflared: { controller: 'none' } })).expectOnHost).toBe(false);
    expect(cloudflaredHints(config({ cloudflared: { controller: 'docker', docker: { container: 'cf' } } }))).toEqual({
      container: 'cf',
      label: undefined,
      expectOnHost: false,
    });
    expect(
      cloudflaredHints(
        config({
          cloudflared: { controller: 'docker' },
          docker: { cloudflaredContainer: 'tunnel', cloudflaredLabel: 'role=cf' },
        }),
      ),
    ).toEqual({ container: 'tunnel', label: 'role=cf', expectOnHost: false });
  });

  it('with docker.enabled false, the topology reports Docker disabled', async () => {
    const c = createTunnelManagerContainer(config({ docker: { enabled: false } }), { plugins: [dockerPlugin] });
    const snap = await resolvePort(c, 'Topology').snapshot();
    expect(snap.docker).toEqual({
      available: false,
      reason: 'Docker is disabled in the configuration (docker.enabled: false)',
    });
    await resolvePort(c, 'StateStore').close();
  });
});
