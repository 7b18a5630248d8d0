import { createHash } from 'node:crypto';
import type {
  CloudflaredLocation,
  ContainerInfo,
  ContainerPort,
  ContainerState,
  DockerNetwork,
  TopologySnapshot,
} from '../../src/index.js';

/** A stable 64-hex container id derived from the name, like Docker's. */
export const idOf = (name: string): string => createHash('sha256').update(name).digest('hex');

export function network(
  name: string,
  options: { gateway?: string | null; internal?: boolean; driver?: string } = {},
): DockerNetwork {
  return {
    id: idOf(`net:${name}`),
    name,
    driver: options.driver ?? (name === 'host' ? 'host' : name === 'none' ? 'null' : 'bridge'),
    internal: options.internal ?? false,
    gateway: options.gateway === undefined ? null : options.gateway,
    subnet: null,
  };
}

export interface ContainerSpec {
  state?: ContainerState;
  /** `[network, aliases?, gateway?]` */
  networks?: readonly (readonly [string, (readonly string[])?, string?])[];
  /** `[containerPort, bindings (`ip:hostPort`), protocol?]` */
  ports?: readonly (readonly [number, (readonly string[])?, ('tcp' | 'udp')?])[];
  networkMode?: string;
  extraHosts?: readonly string[];
  labels?: Record<string, string>;
  image?: string;
  command?: string;
}

export function container(name: string, spec: ContainerSpec = {}): ContainerInfo {
  const networks = (spec.networks ?? []).map(([net, aliases, gateway]) => ({
    networkId: idOf(`net:${net}`),
    networkName: net,
    ipAddress: null,
    gateway: gateway ?? null,
    // Docker resolves a container's name on user-defined networks; the topology lists it.
    aliases: net === 'bridge' || net === 'host' || net === 'none' ? [] : [name, ...(aliases ?? [])],
  }));
  const ports: ContainerPort[] = (spec.ports ?? []).map(([containerPort, bindings, protocol]) => ({
    containerPort,
    protocol: protocol ?? 'tcp',
    exposed: true,
    published: (bindings ?? []).map((b) => {
      const at = b.lastIndexOf(':');
      return { hostIp: b.slice(0, at), hostPort: Number(b.slice(at + 1)) };
    }),
  }));
  return {
    id: idOf(name),
    name,
    image: spec.image ?? 'app:1',
    command: spec.command ?? 'app',
    state: spec.state ?? 'running',
    labels: spec.labels ?? {},
    networkMode: spec.networkMode ?? spec.networks?.[0]?.[0] ?? 'bridge',
    networks,
    ports,
    extraHosts: spec.extraHosts ?? [],
  };
}

export const onHost: CloudflaredLocation = { kind: 'host', pid: 4242, detail: 'pid 4242' };
export const inContainer = (name: string): CloudflaredLocation => ({
  kind: 'container',
  containerId: idOf(name),
  detail: `container ${name}`,
});

export function snapshot(
  cloudflared: CloudflaredLocation,
  containers: readonly ContainerInfo[],
  networks: readonly DockerNetwork[] = [],
  docker: TopologySnapshot['docker'] = { available: true, apiVersion: '1.41' },
): TopologySnapshot {
  const names = new Set(networks.map((n) => n.name));
  const implied = containers
    .flatMap((c) => c.networks.map((n) => n.networkName))
    .filter((n) => !names.has(n) && names.add(n))
    .map((n) => network(n));
  return { takenAt: 1, docker, cloudflared, containers, networks: [...networks, ...implied] };
}
