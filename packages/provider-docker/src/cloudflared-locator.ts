import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { CloudflaredLocation, ContainerInfo, TopologySnapshot } from '@tunnel/core';

/** A `cloudflared` process seen in `/proc`. */
export interface HostProcess {
  readonly pid: number;
  readonly cmdline: readonly string[];
  /** True when it runs inside a container (another pid namespace, or a known container's cgroup). */
  readonly inContainer: boolean;
}

/** What the configuration says about where cloudflared runs. */
export interface CloudflaredHints {
  /** `docker.cloudflaredContainer` (or `cloudflared.docker.container` with the docker controller). */
  readonly container?: string | undefined;
  /** `docker.cloudflaredLabel`: `key` or `key=value`. */
  readonly label?: string | undefined;
  /**
   * The manager runs cloudflared on the host (systemd or child controller): when no cloudflared
   * runs anywhere right now, it is the host's, not unknown.
   */
  readonly expectOnHost?: boolean | undefined;
}

const EXECUTABLE = 'cloudflared';
const IMAGE = /^(?:[^/]+\/)*cloudflare\/cloudflared(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/;
const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'zsh']);
const INITS = new Set(['tini', 'tini-static', 'dumb-init', 'docker-init', 'catatonit']);
/** Container states in which cloudflared is there (if not serving) rather than stopped. */
const PRESENT = new Set(['running', 'restarting', 'paused']);

const isCloudflaredWord = (word: string | undefined) => word !== undefined && basename(word) === EXECUTABLE;

/** Whether the image is `cloudflare/cloudflared` (any registry, tag or digest). */
export function isCloudflaredImage(image: string): boolean {
  return IMAGE.test(image);
}

/**
 * Whether a container's command (`Path` and `Args`, space-joined) runs cloudflared: as the
 * executable, as the first word of a `sh -c` script, or as the program an init wrapper starts.
 * A `cloudflared` that is only an argument (`tail /var/log/cloudflared`) does not count.
 */
export function runsCloudflared(command: string): boolean {
  const words = command.trim().split(/\s+/);
  const exe = basename(words[0] ?? '');
  if (exe === EXECUTABLE) return true;
  if (SHELLS.has(exe)) {
    const c = words.indexOf('-c');
    if (c < 0) return false;
    const script = words.slice(c + 1);
    return isCloudflaredWord(script[0] === 'exec' ? script[1] : script[0]);
  }
  if (INITS.has(exe)) return isCloudflaredWord(words.slice(1).find((w) => !w.startsWith('-')));
  return false;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function readLink(path: string): Promise<string | null> {
  try {
    return await readlink(path);
  } catch {
    return null;
  }
}

/**
 * Finds `cloudflared` processes in `/proc`: by executable (`exe`, readable only for the
 * manager's own user or root) or by name (`comm`, readable for every process). A process in another pid namespace, or in
 * a cgroup named after one of `containerIds`, runs in a container. Never throws: an unreadable
 * `/proc` gives no processes.
 */
export async function scanHostProcesses(
  procRoot = '/proc',
  containerIds: ReadonlySet<string> = new Set(),
): Promise<HostProcess[]> {
  let entries: string[];
  try {
    entries = (await readdir(procRoot)).filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const ownNamespace = await readLink(join(procRoot, 'self', 'ns', 'pid'));
  const found = await Promise.all(
    entries.map(async (entry): Promise<HostProcess | null> => {
      const dir = join(procRoot, entry);
      const comm = (await readText(join(dir, 'comm')))?.trim();
      const exe = await readLink(join(dir, 'exe'));
      if (comm !== EXECUTABLE && !(exe !== null && isCloudflaredWord(exe.replace(/ \(deleted\)$/, '')))) return null;
      const cmdline = ((await readText(join(dir, 'cmdline'))) ?? '').split('\0').filter((a) => a !== '');
      const namespace = await readLink(join(dir, 'ns', 'pid'));
      let inContainer = ownNamespace !== null && namespace !== null && namespace !== ownNamespace;
      if (!inContainer && (ownNamespace === null || namespace === null)) {
        const cgroup = (await readText(join(dir, 'cgroup'))) ?? '';
        inContainer = [...cgroup.matchAll(/[0-9a-f]{64}/g)].some((m) => containerIds.has(m[0]));
      }
      return { pid: Number(entry), cmdline, inContainer };
    }),
  );
  return found.filter((p): p is HostProcess => p !== null).sort((a, b) => a.pid - b.pid);
}

function flagValue(cmdline: readonly string[], flag: string): string | null {
  for (let i = 0; i < cmdline.length; i++) {
    const arg = cmdline[i] ?? '';
    if (arg === flag || arg === `-${flag}`) return cmdline[i + 1] ?? null;
    if (arg.startsWith(`${flag}=`) || arg.startsWith(`-${flag}=`)) return arg.slice(arg.indexOf('=') + 1);
  }
  return null;
}

function describeHost(processes: readonly HostProcess[]): string {
  const pids = processes.map((p) => p.pid);
  const config = processes.map((p) => flagValue(p.cmdline, '--config')).find((c) => c !== null);
  return `cloudflared runs on the host (pid ${pids.slice(0, 5).join(', ')}${pids.length > 5 ? ', …' : ''})${config ? ` with --config ${config}` : ''}`;
}

function hasLabel(c: ContainerInfo, label: string): boolean {
  const eq = label.indexOf('=');
  if (eq < 0) return Object.hasOwn(c.labels, label);
  return c.labels[label.slice(0, eq)] === label.slice(eq + 1);
}

const inContainer = (c: ContainerInfo, why: string): CloudflaredLocation => ({
  kind: 'container',
  containerId: c.id,
  detail: `cloudflared runs in container ${c.name} (${why}, ${c.state})`,
});

/**
 * Where cloudflared runs. A configured container name or label decides alone. Otherwise every
 * running candidate counts — containers with the `cloudflare/cloudflared` image or a
 * `cloudflared` command, and host processes — and more than one place is `ambiguous`, never a
 * guess. With nothing running: the host if the manager runs cloudflared there, else a single
 * stopped candidate container, else `unknown`.
 */
export function locateCloudflared(input: {
  readonly containers: readonly ContainerInfo[];
  readonly processes: readonly HostProcess[];
  readonly hints: CloudflaredHints;
  readonly docker: TopologySnapshot['docker'];
}): CloudflaredLocation {
  const { containers, processes, hints, docker } = input;
  if (hints.container !== undefined || hints.label !== undefined) {
    const wanted =
      hints.container !== undefined ? `container ${hints.container}` : `the container labelled ${hints.label}`;
    if (!docker.available) {
      return { kind: 'unknown', detail: `cloudflared is configured to run in ${wanted}, but ${docker.reason}` };
    }
    if (hints.container !== undefined) {
      const c = containers.find((x) => x.name === hints.container || x.id === hints.container);
      return c
        ? inContainer(c, 'configured')
        : { kind: 'unknown', detail: `the configured cloudflared container ${hints.container} does not exist` };
    }
    const label = hints.label ?? '';
    const labelled = containers.filter((c) => hasLabel(c, label));
    const present = labelled.filter((c) => PRESENT.has(c.state));
    const pick = present.length === 1 ? present[0] : labelled.length === 1 ? labelled[0] : undefined;
    if (pick) return inContainer(pick, `labelled ${label}`);
    if (labelled.length === 0) return { kind: 'unknown', detail: `no container carries the label ${label}` };
    const names = (present.length > 1 ? present : labelled).map((c) => `container ${c.name}`);
    return { kind: 'ambiguous', candidates: names, detail: `${names.length} containers carry the label ${label}` };
  }

  const candidates = containers.filter((c) => isCloudflaredImage(c.image) || runsCloudflared(c.command));
  const present = candidates.filter((c) => PRESENT.has(c.state));
  const onHost = processes.filter((p) => !p.inContainer).sort((a, b) => a.pid - b.pid);
  const places = [
    ...present.map((c) => `container ${c.name}`),
    ...(onHost.length > 0 ? [`host (pid ${onHost.map((p) => p.pid).join(', ')})`] : []),
  ];
  if (places.length > 1) {
    return { kind: 'ambiguous', candidates: places, detail: `cloudflared runs in ${places.length} places` };
  }
  const only = present[0];
  if (only) return inContainer(only, isCloudflaredImage(only.image) ? `image ${only.image}` : 'command cloudflared');
  const first = onHost[0];
  if (first) return { kind: 'host', pid: first.pid, detail: describeHost(onHost) };
  if (hints.expectOnHost) {
    return {
      kind: 'host',
      pid: null,
      detail: 'no cloudflared runs now; the manager runs it on the host (cloudflared.controller)',
    };
  }
  const stopped = candidates[0];
  if (candidates.length === 1 && stopped) return inContainer(stopped, 'the only cloudflared container');
  if (candidates.length > 1) {
    const names = candidates.map((c) => `container ${c.name}`);
    return { kind: 'ambiguous', candidates: names, detail: `${names.length} stopped cloudflared containers` };
  }
  return {
    kind: 'unknown',
    detail: docker.available
      ? 'no cloudflared process or container was found'
      : `no cloudflared process was found, and ${docker.reason}`,
  };
}
