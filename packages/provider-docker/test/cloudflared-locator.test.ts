import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerInfo, ContainerState, TopologySnapshot } from '@tunnel/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type HostProcess,
  isCloudflaredImage,
  locateCloudflared,
  runsCloudflared,
  scanHostProcesses,
} from '../src/index.js';

const up: TopologySnapshot['docker'] = { available: true, apiVersion: '1.41' };
const down: TopologySnapshot['docker'] = { available: false, reason: 'the Docker socket /x does not exist' };

function container(
  name: string,
  options: { state?: ContainerState; image?: string; command?: string; labels?: Record<string, string> } = {},
): ContainerInfo {
  return {
    id: `${name}-id`.padEnd(64, '0'),
    name,
    image: options.image ?? 'app:1',
    command: options.command ?? 'app serve',
    state: options.state ?? 'running',
    labels: options.labels ?? {},
    networkMode: 'bridge',
    networks: [],
    ports: [],
    extraHosts: [],
  };
}
const host = (pid: number, cmdline: string[] = ['cloudflared', 'tunnel', 'run']): HostProcess => ({
  pid,
  cmdline,
  inContainer: false,
});

describe('isCloudflaredImage', () => {
  it.each([
    ['cloudflare/cloudflared', true],
    ['cloudflare/cloudflared:latest', true],
    ['cloudflare/cloudflared:2026.8.0', true],
    ['docker.io/cloudflare/cloudflared:2026.8.0', true],
    ['registry.local:5000/mirror/cloudflare/cloudflared:1', true],
    [`cloudflare/cloudflared@sha256:${'a'.repeat(64)}`, true],
    ['cloudflare/cloudflared-exporter', false],
    ['someone/cloudflared', false],
    ['cloudflared', false],
    ['busybox', false],
  ])('%s → %s', (image, expected) => {
    expect(isCloudflaredImage(image)).toBe(expected);
  });
});

describe('runsCloudflared', () => {
  it.each([
    ['cloudflared tunnel run', true],
    ['cloudflared --no-autoupdate tunnel --config /etc/cloudflared/config.yml run', true],
    ['/usr/local/bin/cloudflared tunnel run', true],
    ['sh -c cloudflared tunnel run', true],
    ['/bin/sh -c exec cloudflared tunnel run', true],
    ['tini -- cloudflared tunnel run', true],
    ['/sbin/tini -s -- /usr/bin/cloudflared tunnel run', true],
    ['tail -f /var/log/cloudflared', false],
    ['sh -c echo cloudflared', false],
    ['cloudflared-exporter --port 9', false],
    ['nginx -g daemon off;', false],
    ['sh', false],
    ['', false],
  ])('%j → %s', (command, expected) => {
    expect(runsCloudflared(command)).toBe(expected);
  });
});

describe('locateCloudflared', () => {
  const locate = (
    containers: ContainerInfo[],
    processes: HostProcess[] = [],
    hints: Parameters<typeof locateCloudflared>[0]['hints'] = {},
    docker: TopologySnapshot['docker'] = up,
  ) => locateCloudflared({ containers, processes, hints, docker });

  it('a configured container name decides alone, even with a host process', () => {
    const cf = container('edge-cf', { state: 'exited' });
    expect(
      locate([cf, container('other', { command: 'cloudflared tunnel run' })], [host(5)], { container: 'edge-cf' }),
    ).toEqual({
      kind: 'container',
      containerId: cf.id,
      detail: 'cloudflared runs in container edge-cf (configured, exited)',
    });
  });

  it('a configured container that does not exist, or Docker down, is unknown', () => {
    expect(locate([], [], { container: 'edge-cf' })).toEqual({
      kind: 'unknown',
      detail: 'the configured cloudflared container edge-cf does not exist',
    });
    expect(locate([], [host(5)], { container: 'edge-cf' }, down)).toEqual({
      kind: 'unknown',
      detail: 'cloudflared is configured to run in container edge-cf, but the Docker socket /x does not exist',
    });
  });

  it('a configured label: key or key=value; the running one of several; ambiguity otherwise', () => {
    const a = container('a', { labels: { role: 'tunnel' } });
    const b = container('b', { labels: { role: 'tunnel' }, state: 'exited' });
    const c = container('c', { labels: { role: 'web' } });
    expect(locate([a, b, c], [], { label: 'role=tunnel' })).toMatchObject({ kind: 'container', containerId: a.id });
    expect(locate([b, c], [], { label: 'role=tunnel' })).toMatchObject({ kind: 'container', containerId: b.id });
    expect(locate([a, c], [], { label: 'role' })).toMatchObject({
      kind: 'ambiguous',
      candidates: ['container a', 'container c'],
    });
    expect(locate([c], [], { label: 'role=tunnel' })).toEqual({
      kind: 'unknown',
      detail: 'no container carries the label role=tunnel',
    });
  });

  it('one running cloudflared container, by image or by command', () => {
    const byImage = container('cf', { image: 'cloudflare/cloudflared:latest' });
    expect(locate([byImage, container('web')])).toEqual({
      kind: 'container',
      containerId: byImage.id,
      detail: 'cloudflared runs in container cf (image cloudflare/cloudflared:latest, running)',
    });
    const byCommand = container('cf', { command: 'cloudflared tunnel run' });
    expect(locate([byCommand])).toMatchObject({ kind: 'container', containerId: byCommand.id });
  });

  it('host processes: the lowest pid, every pid and the config file in the detail', () => {
    expect(
      locate([], [host(300), host(200, ['cloudflared', 'tunnel', '--config', '/etc/cf/config.yml', 'run'])]),
    ).toEqual({
      kind: 'host',
      pid: 200,
      detail: 'cloudflared runs on the host (pid 200, 300) with --config /etc/cf/config.yml',
    });
  });

  it('a process that runs inside a container is not the host', () => {
    const cf = container('cf', { command: 'cloudflared tunnel run' });
    expect(locate([cf], [{ pid: 9, cmdline: ['cloudflared'], inContainer: true }])).toMatchObject({
      kind: 'container',
    });
  });

  it('running in two places is ambiguous, never a guess', () => {
    const cf = container('old-cf', { image: 'cloudflare/cloudflared' });
    expect(locate([cf], [host(42)], { expectOnHost: true })).toEqual({
      kind: 'ambiguous',
      candidates: ['container old-cf', 'host (pid 42)'],
      detail: 'cloudflared runs in 2 places',
    });
    const two = [
      container('a', { command: 'cloudflared tunnel run' }),
      container('b', { command: 'cloudflared tunnel run' }),
    ];
    expect(locate(two)).toMatchObject({ kind: 'ambiguous', candidates: ['container a', 'container b'] });
  });

  it('nothing running: the host when the manager runs it there, else one stopped container, else unknown', () => {
    const stopped = container('cf', { image: 'cloudflare/cloudflared', state: 'exited' });
    expect(locate([stopped], [], { expectOnHost: true })).toMatchObject({ kind: 'host', pid: null });
    expect(locate([stopped])).toMatchObject({ kind: 'container', containerId: stopped.id });
    expect(locate([stopped, container('cf2', { image: 'cloudflare/cloudflared', state: 'created' })])).toMatchObject({
      kind: 'ambiguous',
    });
    expect(locate([container('web')])).toEqual({
      kind: 'unknown',
      detail: 'no cloudflared process or container was found',
    });
    expect(locate([], [], {}, down)).toEqual({
      kind: 'unknown',
      detail: 'no cloudflared process was found, and the Docker socket /x does not exist',
    });
  });
});

describe('scanHostProcesses over a /proc tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'tm-proc-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const known = 'c'.repeat(64);
  const proc = (
    pid: string,
    files: { comm?: string; exe?: string; ns?: string; cmdline?: string[]; cgroup?: string },
  ) => {
    const dir = join(root, pid);
    mkdirSync(join(dir, 'ns'), { recursive: true });
    if (files.comm !== undefined) writeFileSync(join(dir, 'comm'), `${files.comm}\n`);
    if (files.exe !== undefined) symlinkSync(files.exe, join(dir, 'exe'));
    if (files.ns !== undefined) symlinkSync(files.ns, join(dir, 'ns', 'pid'));
    writeFileSync(join(dir, 'cmdline'), (files.cmdline ?? []).map((a) => `${a}\0`).join(''));
    if (files.cgroup !== undefined) writeFileSync(join(dir, 'cgroup'), files.cgroup);
  };
  mkdirSync(join(root, 'self', 'ns'), { recursive: true });
  symlinkSync('pid:[4026531836]', join(root, 'self', 'ns', 'pid'));
  proc('100', {
    comm: 'cloudflared',
    exe: '/usr/bin/cloudflared',
    ns: 'pid:[4026531836]',
    cmdline: ['cloudflared', 'tunnel', 'run'],
  });
  proc('101', { comm: 'cloudflared', cgroup: `0::/system.slice/docker-${known}.scope\n` });
  proc('102', { comm: 'node', exe: '/usr/bin/node', ns: 'pid:[4026531836]' });
  proc('103', { comm: 'cloudflared', exe: '/usr/local/bin/cloudflared', ns: 'pid:[4026532001]' });
  proc('104', { comm: 'cf-renamed', exe: '/opt/cloudflared (deleted)', ns: 'pid:[4026531836]' });
  proc('105', { comm: 'cloudflared', cgroup: '0::/user.slice\n' });
  proc('106', { comm: 'node', exe: '/usr/bin/node', ns: 'pid:[4026531836]', cmdline: ['node', 'sim.js'] });
  writeFileSync(join(root, '106', 'comm'), 'cloudflared\n');
  mkdirSync(join(root, 'not-a-pid'));

  it('finds cloudflared by exe or by name, and tells host processes from container ones', async () => {
    const found = await scanHostProcesses(root, new Set([known]));
    expect(found).toEqual([
      { pid: 100, cmdline: ['cloudflared', 'tunnel', 'run'], inContainer: false },
      { pid: 101, cmdline: [], inContainer: true },
      { pid: 103, cmdline: [], inContainer: true },
      { pid: 104, cmdline: [], inContainer: false },
      { pid: 105, cmdline: [], inContainer: false },
      { pid: 106, cmdline: ['node', 'sim.js'], inContainer: false },
    ]);
  });

  it('gives nothing, and does not throw, for a /proc it cannot read', async () => {
    expect(await scanHostProcesses(join(root, 'missing'))).toEqual([]);
  });
});
