/** Docker container states, as the Engine API reports them. */
export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'removing' | 'dead';

export interface DockerNetwork {
  readonly id: string;
  readonly name: string;
  /** `bridge`, `host`, `null`, `overlay`, … */
  readonly driver: string;
  readonly internal: boolean;
  /** The gateway address (the host, seen from this network), if IPAM has one. */
  readonly gateway: string | null;
  readonly subnet: string | null;
}

/** A container's attachment to one network. */
export interface ContainerNetwork {
  readonly networkId: string;
  readonly networkName: string;
  readonly ipAddress: string | null;
  readonly gateway: string | null;
  /** DNS names other containers on this network can use (container name, `--network-alias`). */
  readonly aliases: readonly string[];
}

/** A host address a container port is published on. */
export interface PortBinding {
  /** `0.0.0.0`, `::`, `127.0.0.1`, … */
  readonly hostIp: string;
  readonly hostPort: number;
}

export interface ContainerPort {
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** Declared by the image or `--expose`. */
  readonly exposed: boolean;
  /** Empty when the port is not published. */
  readonly published: readonly PortBinding[];
}

export interface ContainerInfo {
  readonly id: string;
  /** Without Docker's leading `/`. */
  readonly name: string;
  readonly image: string;
  readonly command: string;
  readonly state: ContainerState;
  readonly labels: Readonly<Record<string, string>>;
  /** `default`, `bridge`, `host`, `none`, `container:<id>` or a network name. */
  readonly networkMode: string;
  readonly networks: readonly ContainerNetwork[];
  readonly ports: readonly ContainerPort[];
  /** `--add-host` entries, e.g. `host.docker.internal:host-gateway`. */
  readonly extraHosts: readonly string[];
}

/** Where cloudflared runs, as far as the topology can tell. */
export type CloudflaredLocation =
  | { readonly kind: 'host'; readonly pid: number | null; readonly detail: string }
  | { readonly kind: 'container'; readonly containerId: string; readonly detail: string }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly string[]; readonly detail: string }
  | { readonly kind: 'unknown'; readonly detail: string };

/** A TCP socket listening on the host (in the manager's network namespace). */
export interface HostListener {
  /** `0.0.0.0`, `::`, `127.0.0.1`, `::1`, `172.17.0.1`, … */
  readonly address: string;
  readonly port: number;
}

export interface TopologySnapshot {
  /** Epoch ms the snapshot was taken. */
  readonly takenAt: number;
  readonly docker:
    | { readonly available: true; readonly apiVersion: string | null }
    | { readonly available: false; readonly reason: string };
  readonly cloudflared: CloudflaredLocation;
  readonly containers: readonly ContainerInfo[];
  readonly networks: readonly DockerNetwork[];
  /**
   * The TCP ports listening on the host and their addresses, when the topology can read them
   * (absent or null: unknown). Decides whether a host service cloudflared's container would
   * reach through a gateway listens on an address that gateway can reach.
   */
  readonly hostListeners?: readonly HostListener[] | null;
}
