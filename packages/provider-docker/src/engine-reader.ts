import type { ContainerInfo, ContainerPort, ContainerState, DockerNetwork, PortBinding } from '@tunnel/core';
import type { DockerEngine } from './docker-engine.js';

/*
 * The Engine API's JSON, reduced to the fields this provider reads, every one optional or
 * nullable: the engine omits or nulls fields depending on the container's state and version,
 * and the types say so instead of trusting a declaration file.
 */

interface RawEndpoint {
  NetworkID?: string | null;
  IPAddress?: string | null;
  Gateway?: string | null;
  Aliases?: string[] | null;
}

type RawPortMap = Record<string, { HostIp?: string | null; HostPort?: string | null }[] | null> | null;

/** `GET /containers/json?all=1`, one entry. */
export interface RawContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image?: string | null;
  State?: string | null;
  Ports?: unknown[] | null;
  HostConfig?: { NetworkMode?: string | null } | null;
  NetworkSettings?: { Networks?: Record<string, RawEndpoint | null> | null } | null;
}

/** `GET /containers/{id}/json`. */
export interface RawContainerInspect {
  Id: string;
  Name?: string | null;
  Path?: string | null;
  Args?: string[] | null;
  State?: { Status?: string | null } | null;
  Config?: {
    Image?: string | null;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
  } | null;
  HostConfig?: {
    NetworkMode?: string | null;
    PortBindings?: RawPortMap;
    ExtraHosts?: string[] | null;
  } | null;
  NetworkSettings?: {
    Ports?: RawPortMap;
    Networks?: Record<string, RawEndpoint | null> | null;
  } | null;
}

/** `GET /networks`, one entry. */
export interface RawNetwork {
  Id: string;
  Name: string;
  Driver?: string | null;
  Internal?: boolean | null;
  IPAM?: { Config?: { Subnet?: string | null; Gateway?: string | null }[] | null } | null;
}

const CONTAINER_STATES = new Set<ContainerState>([
  'created',
  'running',
  'paused',
  'restarting',
  'exited',
  'removing',
  'dead',
]);
/** Networks Docker creates itself; container names resolve on none of them. */
const PREDEFINED_NETWORKS = new Set(['bridge', 'host', 'none']);
/** States in which `NetworkSettings.Ports` holds the bindings in force (else the configured ones). */
const LIVE_STATES = new Set(['running', 'paused', 'restarting']);
// Inspects run in parallel (dockerd serves them concurrently), bounded so a host with thousands
// of containers does not open thousands of connections at once.
const MAX_CONCURRENT_INSPECTS = 32;

const isIpv4 = (address: string) => !address.includes(':');
/** Code-point order, as SQLite's default collation sorts the cached copy. */
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function portBindings(map: RawPortMap | undefined, key: string): PortBinding[] {
  const seen = new Set<string>();
  const out: PortBinding[] = [];
  for (const b of map?.[key] ?? []) {
    const hostPort = Number.parseInt(b.HostPort ?? '', 10);
    // A binding to a random port that is not started yet has no port: nothing to report.
    if (!Number.isInteger(hostPort) || hostPort <= 0 || hostPort > 65_535) continue;
    const hostIp = b.HostIp || '0.0.0.0';
    const id = `${hostIp}|${hostPort}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push({ hostIp, hostPort });
    }
  }
  return out;
}

function parsePortKey(key: string): { port: number; protocol: ContainerPort['protocol'] } | null {
  const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(key);
  const port = Number(match?.[1]);
  if (!match || port < 1 || port > 65_535) return null;
  return { port, protocol: (match[2] ?? 'tcp') as ContainerPort['protocol'] };
}

/**
 * A container as the topology reports it, from its inspect data. `networkIds` fills in network
 * ids the engine leaves empty for stopped containers.
 */
export function toContainerInfo(raw: RawContainerInspect, networkIds: ReadonlyMap<string, string>): ContainerInfo {
  const name = (raw.Name ?? '').replace(/^\//, '');
  const status = raw.State?.Status ?? '';
  const live = LIVE_STATES.has(status);
  const exposed = Object.keys(raw.Config?.ExposedPorts ?? {});
  const bindings = live ? raw.NetworkSettings?.Ports : raw.HostConfig?.PortBindings;
  const keys = [...new Set([...exposed, ...Object.keys(bindings ?? {})])];
  const ports: ContainerPort[] = [];
  for (const key of keys) {
    const parsed = parsePortKey(key);
    if (!parsed) continue;
    ports.push({
      containerPort: parsed.port,
      protocol: parsed.protocol,
      exposed: exposed.includes(key),
      published: portBindings(bindings, key),
    });
  }
  ports.sort((a, b) => a.containerPort - b.containerPort || byText(a.protocol, b.protocol));
  const networks = Object.entries(raw.NetworkSettings?.Networks ?? {})
    .map(([networkName, ep]) => ({
      networkId: ep?.NetworkID || networkIds.get(networkName) || '',
      networkName,
      ipAddress: ep?.IPAddress || null,
      gateway: ep?.Gateway || null,
      // On user-defined networks Docker's DNS answers for the container name too, though the
      // engine (API 1.41) lists only `--network-alias` names and the short id.
      aliases: PREDEFINED_NETWORKS.has(networkName) ? [] : [...new Set([name, ...(ep?.Aliases ?? [])])],
    }))
    .sort((a, b) => byText(a.networkName, b.networkName));
  return {
    id: raw.Id,
    name,
    image: raw.Config?.Image ?? '',
    command: [raw.Path ?? '', ...(raw.Args ?? [])].filter((part) => part !== '').join(' '),
    state: CONTAINER_STATES.has(status as ContainerState) ? (status as ContainerState) : 'dead',
    labels: { ...(raw.Config?.Labels ?? {}) },
    networkMode: raw.HostConfig?.NetworkMode || 'default',
    networks,
    ports,
    extraHosts: [...(raw.HostConfig?.ExtraHosts ?? [])],
  };
}

/**
 * A network as the topology reports it. The default bridge's IPAM carries no gateway on some
 * engines; `observedGateway` (an attached container's gateway) fills it in.
 */
export function toDockerNetwork(raw: RawNetwork, observedGateway: string | null): DockerNetwork {
  const configs = raw.IPAM?.Config ?? [];
  const withGateway = configs.filter((c) => c.Gateway);
  const gateway = (withGateway.find((c) => isIpv4(c.Gateway ?? '')) ?? withGateway[0])?.Gateway ?? observedGateway;
  const withSubnet = configs.filter((c) => c.Subnet);
  const subnet = (withSubnet.find((c) => isIpv4(c.Subnet ?? '')) ?? withSubnet[0])?.Subnet ?? null;
  return {
    id: raw.Id,
    name: raw.Name,
    driver: raw.Driver ?? '',
    internal: raw.Internal === true,
    gateway: gateway || null,
    subnet,
  };
}

/** What in a container summary means its inspect data may have changed. */
function signature(s: RawContainerSummary): string {
  const networks = Object.entries(s.NetworkSettings?.Networks ?? {})
    .map(([name, ep]) => [name, ep?.NetworkID ?? '', ep?.IPAddress ?? '', ep?.Aliases ?? []])
    .sort();
  return JSON.stringify([s.State, s.Names, s.Image, s.Ports, s.HostConfig?.NetworkMode, networks]);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface EngineView {
  readonly apiVersion: string;
  readonly containers: ContainerInfo[];
  readonly networks: DockerNetwork[];
}

/**
 * Reads containers and networks from the engine. Keeps each container's inspect data and
 * inspects again only containers whose summary changed (or that an event named), so a refresh
 * of an unchanged host costs two list calls.
 */
export class EngineReader {
  readonly #engine: DockerEngine;
  readonly #inspected = new Map<string, { signature: string; raw: RawContainerInspect }>();

  constructor(engine: DockerEngine) {
    this.#engine = engine;
  }

  /** Drops the kept inspect data of one container (an event named it), or of all. */
  forget(containerId?: string): void {
    if (containerId === undefined) this.#inspected.clear();
    else this.#inspected.delete(containerId);
  }

  /**
   * Inspects one container by name or id, now (the kept copy is not used). Null when the engine
   * has no such container.
   */
  async inspectOne(ref: string, networkIds: ReadonlyMap<string, string>): Promise<ContainerInfo | null> {
    const { docker } = await this.#engine.connect();
    try {
      const raw = (await docker
        .getContainer(ref)
        .inspect({ abortSignal: this.#engine.timeout() } as object)) as unknown as RawContainerInspect;
      return toContainerInfo(raw, networkIds);
    } catch (error) {
      if ((error as { statusCode?: unknown }).statusCode === 404) return null;
      throw error;
    }
  }

  async read(): Promise<EngineView> {
    const { docker, apiVersion } = await this.#engine.connect();
    const [summaries, rawNetworks] = await Promise.all([
      docker.listContainers({ all: true, abortSignal: this.#engine.timeout() }) as Promise<unknown>,
      docker.listNetworks({ abortSignal: this.#engine.timeout() }) as Promise<unknown>,
    ]);
    const list = summaries as RawContainerSummary[];
    const live = new Set(list.map((s) => s.Id));
    for (const id of this.#inspected.keys()) if (!live.has(id)) this.#inspected.delete(id);
    const inspected = await mapLimit(list, MAX_CONCURRENT_INSPECTS, async (summary) => {
      const sig = signature(summary);
      const kept = this.#inspected.get(summary.Id);
      if (kept && kept.signature === sig) return kept.raw;
      try {
        const raw = (await docker
          .getContainer(summary.Id)
          .inspect({ abortSignal: this.#engine.timeout() } as object)) as unknown as RawContainerInspect;
        this.#inspected.set(summary.Id, { signature: sig, raw });
        return raw;
      } catch (error) {
        // Removed between the list and the inspect: it is gone, not an engine failure.
        if ((error as { statusCode?: unknown }).statusCode === 404) return null;
        throw error;
      }
    });
    const raws = inspected.filter((r): r is RawContainerInspect => r !== null);
    const networksRaw = rawNetworks as RawNetwork[];
    const networkIds = new Map(networksRaw.map((n) => [n.Name, n.Id]));
    const containers = raws.map((r) => toContainerInfo(r, networkIds)).sort((a, b) => byText(a.name, b.name));
    const observed = new Map<string, string>();
    for (const c of containers) {
      for (const n of c.networks) if (n.gateway && !observed.has(n.networkName)) observed.set(n.networkName, n.gateway);
    }
    const networks = networksRaw
      .map((n) => toDockerNetwork(n, observed.get(n.Name) ?? null))
      .sort((a, b) => byText(a.name, b.name));
    return { apiVersion, containers, networks };
  }
}
