/**
 * The real Docker engine the integration tests run against, and what they create on it.
 * Nothing can be pulled here: the image is a busybox rootfs built from Debian's busybox-static
 * and loaded with the engine's import endpoint (what `docker import` does). Everything a test
 * creates carries the label `tunnel-manager.test=<run>` and is removed by that label.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const run = promisify(execFile);

export const SOCKET_PATH = '/var/run/docker.sock';
export const TEST_IMAGE = 'tunnel-test/busybox:1';
export const TEST_LABEL = 'tunnel-manager.test';
const BUSYBOX = '/bin/busybox';
const APPLETS = [
  'sh',
  'httpd',
  'wget',
  'sleep',
  'mkdir',
  'echo',
  'cat',
  'ls',
  'timeout',
  'nc',
  'true',
  'kill',
  'hostname',
];
const FIX =
  'Fix: run `bash scripts/bootstrap.sh --test-services` (installs docker.io and busybox-static, starts dockerd).';
/** Leftovers of a run that died without cleaning up are removed after this long. */
const STALE_AFTER_MS = 3 * 60 * 60 * 1000;

/**
 * The engine, or a loud failure with the fix. These tests never skip: a machine without Docker
 * fails them, saying what to run.
 */
export async function requireDocker(): Promise<Docker> {
  const docker = new Docker({ socketPath: SOCKET_PATH, version: 'v1.41' });
  try {
    // (dockerode's declarations omit the options argument `ping` accepts.)
    await (docker as unknown as { ping(o: { abortSignal: AbortSignal }): Promise<unknown> }).ping({
      abortSignal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    throw new Error(
      `These tests need a running Docker engine at ${SOCKET_PATH}, and it is not reachable (${code}). ${FIX}`,
    );
  }
  await sweepStale(docker);
  await ensureTestImage(docker);
  return docker;
}

async function sweepStale(docker: Docker): Promise<void> {
  const cutoff = (Date.now() - STALE_AFTER_MS) / 1000;
  const containers = await docker.listContainers({ all: true, filters: { label: [TEST_LABEL] } });
  for (const c of containers) {
    if (c.Created < cutoff)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
  }
  const networks = await docker.listNetworks({ filters: { label: [TEST_LABEL] } });
  for (const n of networks) {
    if (Date.parse(n.Created) / 1000 < cutoff)
      await docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined);
  }
}

/** Builds `tunnel-test/busybox:1` unless the engine has it. */
export async function ensureTestImage(docker: Docker): Promise<void> {
  try {
    await docker.getImage(TEST_IMAGE).inspect();
    return;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing, so the test image cannot be built. ${FIX}`);
  const dir = mkdtempSync(join(tmpdir(), 'tm-rootfs-'));
  try {
    const root = join(dir, 'rootfs');
    for (const d of ['bin', 'tmp', 'www', 'etc', 'usr/local/bin']) mkdirSync(join(root, d), { recursive: true });
    await run('cp', [BUSYBOX, join(root, 'bin', 'busybox')]);
    for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    // A stand-in `cloudflared` executable: a script, so its process is named cloudflared while
    // it loops (an `exec` would rename it).
    writeFileSync(join(root, 'usr/local/bin/cloudflared'), '#!/bin/sh\nwhile true; do sleep 1; done\n', {
      mode: 0o755,
    });
    const tar = join(dir, 'rootfs.tar');
    await run('tar', ['-C', root, '-cf', tar, '.']);
    const [repo, tag] = TEST_IMAGE.split(':');
    const progress = await docker.importImage(tar, { repo, tag, changes: 'ENV PATH=/usr/local/bin:/bin' });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ContainerSpec {
  /** The command; the image has no default. */
  readonly cmd: readonly string[];
  /** The first network is joined at creation, the others before the start. */
  readonly networks?: readonly { readonly name: string; readonly aliases?: readonly string[] }[];
  /** `host`, `none`, `container:<name>`; overrides `networks`. */
  readonly networkMode?: string;
  readonly expose?: readonly number[];
  /** Published on 127.0.0.1 (host port 0 = one the engine picks). */
  readonly publish?: readonly { readonly port: number; readonly hostPort?: number }[];
  readonly extraHosts?: readonly string[];
  readonly labels?: Record<string, string>;
  /** @default true */
  readonly start?: boolean;
}

/** An httpd serving `marker` on `port`: what the vantage checks fetch. */
export const httpd = (marker: string, port: number, bind = ''): string[] => [
  'sh',
  '-c',
  `mkdir -p /www && echo ${marker} > /www/index.html && exec httpd -f -p ${bind}${port} -h /www`,
];

/** What one test file creates on the engine, all of it labelled with one run id. */
export class TestDocker {
  readonly run = `tmt-${randomBytes(3).toString('hex')}`;
  readonly labels: Record<string, string> = { [TEST_LABEL]: this.run };
  readonly docker: Docker;

  constructor(docker: Docker) {
    this.docker = docker;
  }

  name(suffix: string): string {
    return `${this.run}-${suffix}`;
  }

  async network(suffix: string, options: { internal?: boolean } = {}): Promise<string> {
    const name = this.name(suffix);
    await this.docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      Internal: options.internal ?? false,
      Labels: this.labels,
      CheckDuplicate: true,
    });
    return name;
  }

  async container(suffix: string, spec: ContainerSpec): Promise<Docker.Container> {
    const name = this.name(suffix);
    const [first, ...more] = spec.networks ?? [];
    const ports = [...(spec.expose ?? []), ...(spec.publish ?? []).map((p) => p.port)];
    const container = await this.docker.createContainer({
      name,
      Image: TEST_IMAGE,
      Cmd: [...spec.cmd],
      Labels: { ...this.labels, ...(spec.labels ?? {}) },
      ExposedPorts: Object.fromEntries(ports.map((p) => [`${p}/tcp`, {}])),
      HostConfig: {
        NetworkMode: spec.networkMode ?? first?.name ?? 'bridge',
        ExtraHosts: [...(spec.extraHosts ?? [])],
        PortBindings: Object.fromEntries(
          (spec.publish ?? []).map((p) => [
            `${p.port}/tcp`,
            [{ HostIp: '127.0.0.1', HostPort: String(p.hostPort ?? '') }],
          ]),
        ),
      },
      ...(first && !spec.networkMode
        ? { NetworkingConfig: { EndpointsConfig: { [first.name]: { Aliases: [...(first.aliases ?? [])] } } } }
        : {}),
    });
    for (const n of spec.networkMode ? [] : more) {
      await this.docker
        .getNetwork(n.name)
        .connect({ Container: container.id, EndpointConfig: { Aliases: [...(n.aliases ?? [])] } });
    }
    if (spec.start ?? true) await container.start();
    return container;
  }

  /** Runs a command in a container; resolves with its exit code and output. */
  async exec(container: string, cmd: readonly string[]): Promise<{ exitCode: number; output: string }> {
    const exec = await this.docker
      .getContainer(container)
      .exec({ Cmd: [...cmd], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    this.docker.modem.demuxStream(stream, sink, sink);
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
    });
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString() };
  }

  /**
   * Fetches `url` from inside `container` (busybox wget), retrying until it answers or the
   * deadline passes (a fresh httpd takes a moment; the machine is shared).
   */
  async wgetFrom(container: string, url: string, deadlineMs = 30_000): Promise<string> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const { exitCode, output } = await this.exec(container, ['timeout', '10', 'wget', '-q', '-O', '-', url]);
      if (exitCode === 0) return output.trim();
      if (Date.now() > deadline) throw new Error(`wget ${url} from ${container} failed (exit ${exitCode}): ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  /** Removes every container and network this run created. Safe to call more than once. */
  async cleanup(): Promise<void> {
    const filters = { label: [`${TEST_LABEL}=${this.run}`] };
    const containers = await this.docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    const networks = await this.docker.listNetworks({ filters });
    for (const n of networks)
      await this.docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined);
  }
}

/** Fetches `url` from the host, retrying until it answers or the deadline passes. */
export async function fetchFromHost(url: string, deadlineMs = 30_000): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (response.ok) return (await response.text()).trim();
      if (Date.now() > deadline) throw new Error(`GET ${url} answered ${response.status}`);
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`GET ${url} failed: ${String(error)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
