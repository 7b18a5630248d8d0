import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChildProcessController,
  createTunnelManagerContainer,
  parseConfig,
  resolvePort,
  SystemdController,
  TOKENS,
} from '../../src/index.js';

describe('composition root: the ProcessController per cloudflared.controller', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const config = (controller: 'child' | 'systemd' | 'docker' | 'none') => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tm-di-pc-'));
    dirs.push(dataDir);
    return parseConfig({ dataDir, cloudflared: { controller, child: { replicas: 2 } } });
  };

  it('registers the child-process controller for `child`, as a singleton', () => {
    const c = createTunnelManagerContainer(config('child'));
    const controller = resolvePort(c, 'ProcessController');
    expect(controller).toBeInstanceOf(ChildProcessController);
    expect(controller.kind).toBe('child');
    expect(resolvePort(c, 'ProcessController')).toBe(controller);
    expect((controller as ChildProcessController).logFiles).toHaveLength(2);
  });

  it('registers the systemd controller for `systemd` with the configured unit', () => {
    const c = createTunnelManagerContainer(config('systemd'));
    const controller = resolvePort(c, 'ProcessController');
    expect(controller).toBeInstanceOf(SystemdController);
    expect((controller as SystemdController).unit).toBe('cloudflared.service');
  });

  it('registers none for `none`, and leaves `docker` to the Docker plugin', () => {
    for (const kind of ['none', 'docker'] as const) {
      const c = createTunnelManagerContainer(config(kind));
      expect(c.isRegistered(TOKENS.ProcessController, true)).toBe(false);
      expect(() => resolvePort(c, 'ProcessController')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
  });
});
