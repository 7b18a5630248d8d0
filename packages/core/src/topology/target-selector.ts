import type { ContainerInfo, ContainerNetwork, PortBinding, TopologySnapshot } from '../domain/topology.js';
import { TunnelError } from '../errors.js';
import { assertMayTargetContainer } from './ownership-guard.js';
import { type ParsedTargetRequest, parseTargetRequest, type TargetRequest } from './target-request.js';

/** How cloudflared reaches the service; the CNAME pipeline and status pages show it. */
export type TargetRoute =
  /** Both on the host (or on the host's network). */
  | 'localhost'
  /** cloudflared on the host, the service in a container that publishes the port. */
  | 'published-port'
  /** Both in containers on one user-defined network: by container name. */
  | 'shared-network'
  /** cloudflared and the service share one network namespace (`--network container:…`). */
  | 'shared-namespace'
  /** cloudflared in a container, the service on the host: `host.docker.internal` or a gateway. */
  | 'host-gateway';

export interface TargetSelection {
  /** The ingress `service` URL: scheme, host, port, no path. */
  readonly url: string;
  /** One sentence on why this URL, for the project's agent and the audit log. */
  readonly reason: string;
  readonly via: TargetRoute;
  /** The container that serves the port (for `container:` requests, the resolved name). */
  readonly container: string | null;
}

export interface TargetSelectorOptions {
  /** `docker.ownershipGuard`: projects may only target containers labelled for them. @default false */
  readonly ownershipGuard?: boolean;
}

/** Docker's predefined networks; only the others resolve container names. */
const PREDEFINED_NETWORKS = new Set(['bridge', 'host', 'none']);
const isUserNetwork = (n: ContainerNetwork): boolean => !PREDEFINED_NETWORKS.has(n.networkName);
const HOST_GATEWAY_NAME = 'host.docker.internal';
/** Host addresses a binding can be reached on from the host itself as `localhost`. */
const LOCAL_BINDINGS = new Set(['', '0.0.0.0', '127.0.0.1', '::']);
/** Host addresses that listen on every interface (so a container can reach them via a gateway). */
const ANY_ADDRESS = new Set(['', '0.0.0.0', '::']);
/** Containers can share namespaces in chains (`container:a` → `container:b`); stop at this depth. */
const MAX_NAMESPACE_HOPS = 8;

interface SnapshotIndex {
  readonly byId: ReadonlyMap<string, ContainerInfo>;
  readonly byName: ReadonlyMap<string, ContainerInfo>;
  /** Lower-cased names, for "did you mean". */
  readonly byLowerName: ReadonlyMap<string, ContainerInfo>;
  /** Names other containers resolve on user-defined networks → the containers they reach. */
  readonly byAlias: ReadonlyMap<string, readonly ContainerInfo[]>;
  readonly networkGateways: ReadonlyMap<string, { gateway: string | null; internal: boolean; driver: string }>;
  readonly hostListeners: TopologySnapshot['hostListeners'];
  /** Where cloudflared runs, resolved once per snapshot (a refusal is kept as its factory). */
  place?: CloudflaredPlace | (() => TunnelError);
  gateway?: HostGateway | null;
}

// Snapshots are immutable values and one is shared by many selections: index each once.
const indexes = new WeakMap<TopologySnapshot, SnapshotIndex>();

function indexOf(snapshot: TopologySnapshot): SnapshotIndex {
  let index = indexes.get(snapshot);
  if (!index) {
    const byAlias = new Map<string, ContainerInfo[]>();
    for (const c of snapshot.containers) {
      for (const n of c.networks) {
        if (!isUserNetwork(n)) continue;
        for (const alias of n.aliases) {
          const list = byAlias.get(alias) ?? [];
          if (!list.includes(c)) list.push(c);
          byAlias.set(alias, list);
        }
      }
    }
    index = {
      byId: new Map(snapshot.containers.map((c) => [c.id, c])),
      byName: new Map(snapshot.containers.map((c) => [c.name, c])),
      byLowerName: new Map(snapshot.containers.map((c) => [c.name.toLowerCase(), c])),
      byAlias,
      hostListeners: snapshot.hostListeners ?? null,
      networkGateways: new Map(
        snapshot.networks.map((n) => [n.name, { gateway: n.gateway, internal: n.internal, driver: n.driver }]),
      ),
    };
    indexes.set(snapshot, index);
  }
  return index;
}

const unreachable = (message: string, hint: string, details: Record<string, unknown>, retryable?: boolean) =>
  new TunnelError('TARGET_UNREACHABLE', message, { hint, details, ...(retryable === undefined ? {} : { retryable }) });

const hostPart = (host: string): string => (host.includes(':') ? `[${host}]` : host);
const urlOf = (req: ParsedTargetRequest, host: string, port: number): string =>
  `${req.scheme}://${hostPart(host)}:${port}`;
const address = (host: string, port: number): string => `${hostPart(host)}:${port}`;
const tcpPorts = (c: ContainerInfo) => c.ports.filter((p) => p.protocol === 'tcp');

/**
 * What a requested name stands for: one container, or a network alias several running replicas
 * carry on one network cloudflared is on (Docker's DNS answers that alias with all of them, so
 * publishing the alias spreads requests over the replicas — `docker compose up --scale`).
 */
type Found =
  | { readonly kind: 'one'; readonly container: ContainerInfo }
  | { readonly kind: 'replicas'; readonly alias: string; readonly network: string; readonly replicas: ContainerInfo[] };

/** The user-defined networks of cloudflared's namespace (none when it runs on the host). */
function cloudflaredNetworks(place: CloudflaredPlace): Set<string> {
  return place.kind === 'container'
    ? new Set(place.ns.networks.filter(isUserNetwork).map((n) => n.networkName))
    : new Set();
}

/**
 * Finds a container by id, exact name, unique id prefix or network alias. An alias several
 * containers carry means the one cloudflared can reach on it: a container that holds the alias
 * only on a network cloudflared is not on is not what the name resolves to for cloudflared.
 */
function findContainer(index: SnapshotIndex, snapshot: TopologySnapshot, name: string, place: CloudflaredPlace): Found {
  const exact = index.byId.get(name) ?? index.byName.get(name);
  if (exact) return { kind: 'one', container: exact };
  const candidates = new Set<ContainerInfo>(index.byAlias.get(name));
  if (/^[0-9a-f]{3,64}$/.test(name)) {
    for (const c of snapshot.containers) if (c.id.startsWith(name)) candidates.add(c);
  }
  const found = [...candidates];
  if (found.length === 1 && found[0]) return { kind: 'one', container: found[0] };
  if (found.length > 1) {
    const cfNets = cloudflaredNetworks(place);
    // Per network cloudflared is on: the containers that answer to the alias there.
    const byNetwork = new Map<string, ContainerInfo[]>();
    for (const c of found) {
      for (const n of c.networks) {
        if (!cfNets.has(n.networkName) || !n.aliases.includes(name)) continue;
        byNetwork.set(n.networkName, [...(byNetwork.get(n.networkName) ?? []), c]);
      }
    }
    const reachable = [...new Set([...byNetwork.values()].flat())];
    if (reachable.length === 1 && reachable[0]) return { kind: 'one', container: reachable[0] };
    const [network, members] = [...byNetwork.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
    if (network && members && members.length === reachable.length && reachable.length > 1) {
      return { kind: 'replicas', alias: name, network, replicas: members };
    }
    const names = found.map((c) => c.name).sort();
    throw unreachable(
      `The name ${name} matches ${names.length} containers (${names.join(', ')}).`,
      `Ask again with one container's exact name: ${names.join(' or ')}.`,
      { container: name, candidates: names },
    );
  }
  const nearly = index.byLowerName.get(name.toLowerCase());
  throw unreachable(
    `No container named ${name} exists.`,
    nearly
      ? `Did you mean ${nearly.name}? Container names are case-sensitive.`
      : "List the names with `docker ps -a --format '{{.Names}}'` and ask again with one of them, or leave out the container to publish a port on the host.",
    { container: name },
  );
}

/** The container whose network namespace `c` uses (itself, unless `--network container:…`). */
function namespaceOwner(index: SnapshotIndex, snapshot: TopologySnapshot, c: ContainerInfo): ContainerInfo {
  let current = c;
  for (let hop = 0; hop < MAX_NAMESPACE_HOPS && current.networkMode.startsWith('container:'); hop++) {
    const ref = current.networkMode.slice('container:'.length);
    const next =
      index.byId.get(ref) ??
      index.byName.get(ref) ??
      snapshot.containers.find((x) => ref.length >= 3 && x.id.startsWith(ref));
    if (!next) {
      throw unreachable(
        `Container ${c.name} uses the network of container ${ref}, which does not exist.`,
        `Start ${ref} again, or recreate ${c.name} with a network of its own, then retry.`,
        { container: c.name, networkOf: ref },
      );
    }
    current = next;
  }
  return current;
}

type CloudflaredPlace =
  | { readonly kind: 'host'; readonly says: string }
  | {
      readonly kind: 'container';
      readonly container: ContainerInfo;
      /** Whose network namespace cloudflared uses. */
      readonly ns: ContainerInfo;
      readonly says: string;
    };

function resolveCloudflared(snapshot: TopologySnapshot, index: SnapshotIndex): CloudflaredPlace {
  const cf = snapshot.cloudflared;
  switch (cf.kind) {
    case 'host':
      return { kind: 'host', says: 'cloudflared runs on the host' };
    case 'ambiguous':
      throw unreachable(
        `cloudflared runs in more than one place (${cf.candidates.join(', ')}), so the right target depends on which one serves the tunnel.`,
        'Stop the cloudflared that does not serve the tunnel, or set docker.cloudflaredContainer to the container that does, then retry.',
        { cloudflared: cf },
      );
    case 'unknown':
      throw unreachable(
        `Cannot tell where cloudflared runs: ${cf.detail}.`,
        'Start cloudflared, or set docker.cloudflaredContainer (or docker.cloudflaredLabel) to the container that runs it, then retry.',
        { cloudflared: cf },
        true,
      );
    case 'container': {
      const container = index.byId.get(cf.containerId) ?? index.byName.get(cf.containerId);
      if (!container) {
        throw unreachable(
          `cloudflared's container ${cf.containerId} is missing from the topology snapshot.`,
          'Retry: the container was probably just removed or recreated.',
          { cloudflared: cf },
          true,
        );
      }
      const ns = namespaceOwner(index, snapshot, container);
      const says =
        ns.networkMode === 'host'
          ? `cloudflared's container ${container.name} uses the host network`
          : `cloudflared runs in container ${container.name}`;
      return { kind: 'container', container, ns, says };
    }
  }
}

function placeCloudflared(snapshot: TopologySnapshot, index: SnapshotIndex): CloudflaredPlace {
  if (index.place === undefined) {
    try {
      index.place = resolveCloudflared(snapshot, index);
    } catch (error) {
      // Each refusal gets its own error object; the snapshot decides what it says.
      const e = error as TunnelError;
      index.place = () =>
        new TunnelError(e.code, e.message, { hint: e.hint, retryable: e.retryable, details: e.details ?? {} });
    }
  }
  if (typeof index.place === 'function') throw index.place();
  return index.place;
}

interface HostGateway {
  readonly host: string;
  readonly says: string;
  readonly listenOn: string;
  /** The host address the gateway lands on, when known (a listener there is reachable). */
  readonly ip: string | null;
}

/** How cloudflared's container reaches the host (once per snapshot). */
function hostGateway(index: SnapshotIndex, cf: ContainerInfo): HostGateway | null {
  if (index.gateway === undefined) index.gateway = findHostGateway(index, cf);
  return index.gateway;
}

/** A name cloudflared's container maps to the host, else a gateway address of its networks. */
function findHostGateway(index: SnapshotIndex, cf: ContainerInfo): HostGateway | null {
  const mapped = cf.extraHosts.map((entry) => {
    const at = entry.indexOf(':');
    return { name: entry.slice(0, at), ip: entry.slice(at + 1) };
  });
  const named =
    mapped.find((m) => m.name === HOST_GATEWAY_NAME) ?? mapped.find((m) => m.ip === 'host-gateway' && m.name !== '');
  if (named) {
    const bridge = index.networkGateways.get('bridge')?.gateway ?? null;
    return {
      host: named.name,
      says: `its container maps ${named.name} to the host`,
      listenOn: named.ip === 'host-gateway' ? (bridge ?? 'the Docker bridge address') : named.ip,
      ip: named.ip === 'host-gateway' ? bridge : named.ip,
    };
  }
  for (const n of [...cf.networks].sort((a, b) => a.networkName.localeCompare(b.networkName))) {
    const known = index.networkGateways.get(n.networkName);
    if (known?.internal) continue;
    // Only a bridge network has the host at its gateway: a macvlan or ipvlan gateway is a router
    // on the LAN, and the host is unreachable from such a network by design.
    if (known && known.driver !== 'bridge') continue;
    const gateway = n.gateway || known?.gateway;
    if (gateway) {
      return {
        host: gateway,
        says: `its network ${n.networkName} has the gateway ${gateway}`,
        listenOn: gateway,
        ip: gateway,
      };
    }
  }
  return null;
}

function noRouteToHost(
  place: CloudflaredPlace & { kind: 'container' },
  what: string,
  details: Record<string, unknown>,
) {
  return unreachable(
    `cloudflared's container ${place.container.name} has no route to the host for ${what}: it maps no ${HOST_GATEWAY_NAME} and is on no bridge network with a gateway (a macvlan or ipvlan gateway is not the host).`,
    `Recreate the cloudflared container with --add-host ${HOST_GATEWAY_NAME}:host-gateway, or run the service in a container on a user-defined network cloudflared is on, then retry.`,
    details,
  );
}

/** A port on the host itself (a host service, or a container on the host network). */
function hostPort(
  req: ParsedTargetRequest,
  place: CloudflaredPlace,
  index: SnapshotIndex,
  service: ContainerInfo | null,
): TargetSelection {
  const what = service
    ? `container ${service.name} (on the host network) on port ${req.port}`
    : `the host's port ${req.port}`;
  const container = service?.name ?? null;
  if (place.kind === 'host' || place.ns.networkMode === 'host') {
    return {
      url: urlOf(req, 'localhost', req.port),
      via: 'localhost',
      container,
      reason: `${place.says}, so it reaches ${what} at ${address('localhost', req.port)}.`,
    };
  }
  const gw = hostGateway(index, place.ns);
  if (!gw) throw noRouteToHost(place, what, { container, port: req.port });
  return {
    url: urlOf(req, gw.host, req.port),
    via: 'host-gateway',
    container,
    reason: `${place.says} and ${gw.says}, so it reaches ${what} at ${address(gw.host, req.port)}${listenNote(index, place, gw, what, req.port)}.`,
  };
}

/** Addresses a socket listens on that accept connections arriving on every host address. */
const WILDCARD_LISTEN = new Set(['0.0.0.0', '::']);
const isLoopback = (a: string) => a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');

/**
 * What the host's listening sockets say of a host port cloudflared's container reaches through a
 * gateway. A service listening only on loopback (or only on some other address) is refused: the
 * gateway's connection would be refused, and a route that can never answer is worse than a
 * refusal that says how to fix it. When the sockets are unknown, or nothing listens yet (the
 * service may start after it is published), the requirement is stated instead.
 */
function listenNote(index: SnapshotIndex, place: CloudflaredPlace, gw: HostGateway, what: string, port: number) {
  const requirement = ` (the service must listen on ${gw.listenOn} or 0.0.0.0, not only on 127.0.0.1)`;
  if (!index.hostListeners) return requirement;
  const on = index.hostListeners.filter((l) => l.port === port).map((l) => l.address);
  if (on.length === 0)
    return ` (nothing listens on the host's port ${port} yet; the service must listen on ${gw.listenOn} or 0.0.0.0, not only on 127.0.0.1)`;
  const reachable = on.find(
    (a) => WILDCARD_LISTEN.has(a) || (gw.ip !== null && (a === gw.ip || a === `::ffff:${gw.ip}`)),
  );
  if (reachable) return ` (it listens on ${address(reachable, port)})`;
  const list = [...new Set(on)].sort();
  const name = place.kind === 'container' ? place.container.name : 'cloudflared';
  throw unreachable(
    `${what[0]?.toUpperCase()}${what.slice(1)} listens only on ${list.map((a) => address(a, port)).join(', ')}${list.every(isLoopback) ? ' (loopback)' : ''}, which cloudflared's container ${name} cannot reach through ${gw.host}.`,
    `Make the service listen on 0.0.0.0:${port} (or ${address(gw.listenOn, port)}), or run cloudflared on the host network (--network host), then retry.`,
    { port, listening: list, gateway: gw.host },
  );
}

function assertRunning(c: ContainerInfo, port: number): void {
  if (c.state === 'running') return;
  const hints: Record<string, string> = {
    paused: `Unpause it with \`docker unpause ${c.name}\`, then retry.`,
    restarting: `It keeps restarting: read \`docker logs ${c.name}\`, fix the service, then retry.`,
    dead: `Remove and recreate it (\`docker rm ${c.name}\`), then retry.`,
    removing: 'It is being removed: recreate it, then retry.',
  };
  throw unreachable(
    `Container ${c.name} is ${c.state}, so nothing answers on its port ${port}.`,
    hints[c.state] ?? `Start it with \`docker start ${c.name}\`, then retry.`,
    { container: c.name, state: c.state },
    true,
  );
}

/**
 * A note on the ports a container declares. EXPOSE is documentation, not a contract: on a shared
 * network every port of the container is reachable, and images often declare a port the service
 * does not use (or none), so a port outside the list is accepted with the note, never refused.
 */
function exposeNote(c: ContainerInfo, port: number): string {
  const ports = tcpPorts(c);
  if (ports.length === 0) return ` (it declares no ports, so the service must listen on ${port})`;
  if (ports.some((p) => p.containerPort === port)) return '';
  const list = ports.map((p) => p.containerPort).sort((x, y) => x - y);
  return ` (it declares ${list.map((p) => `${p}/tcp`).join(', ')}, not ${port}: EXPOSE is only advisory, so make sure the service listens on ${port})`;
}

function preferredBinding(bindings: readonly PortBinding[], usable: (b: PortBinding) => boolean): PortBinding | null {
  const order = (b: PortBinding) => (b.hostIp === '127.0.0.1' ? 0 : ANY_ADDRESS.has(b.hostIp) ? 1 : 2);
  return [...bindings].filter(usable).sort((a, b) => order(a) - order(b) || a.hostPort - b.hostPort)[0] ?? null;
}

/** cloudflared reaches the host's loopback: the service must publish the port on the host. */
function publishedPort(
  req: ParsedTargetRequest,
  place: CloudflaredPlace,
  service: ContainerInfo,
  owner: ContainerInfo,
): TargetSelection {
  const port = tcpPorts(owner).find((p) => p.containerPort === req.port);
  const binding = port ? preferredBinding(port.published, () => true) : null;
  if (!binding) {
    const mappedFrom = tcpPorts(owner).find((p) => p.published.some((b) => b.hostPort === req.port));
    throw unreachable(
      `Container ${service.name} does not publish its port ${req.port} on the host, and ${place.says}, which reaches containers only through published ports.`,
      mappedFrom
        ? `Port ${req.port} is ${owner.name}'s host port for its container port ${mappedFrom.containerPort}: ask for port ${mappedFrom.containerPort} instead.`
        : `Recreate container ${owner.name} with -p 127.0.0.1:${req.port}:${req.port} (any free host port may replace the first ${req.port}), then retry.`,
      { container: service.name, port: req.port },
    );
  }
  const host = LOCAL_BINDINGS.has(binding.hostIp) ? 'localhost' : binding.hostIp;
  return {
    url: urlOf(req, host, binding.hostPort),
    via: 'published-port',
    container: service.name,
    reason: `${place.says} and container ${service.name} publishes its port ${req.port} on ${address(binding.hostIp || '0.0.0.0', binding.hostPort)}, so cloudflared reaches it at ${address(host, binding.hostPort)}.`,
  };
}

/** A DNS name other containers on `network` resolve to `c`: its name if it is a plain label. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Whether `host` survives as the host of a service URL, for cloudflared (Go's url.Parse) and for
 * our own validator (WHATWG URL): Docker allows names like `web.1`, but a numeric last label is
 * read as an IPv4 address by the WHATWG parser, so such a name cannot be written into a rule.
 */
function isUrlSafeHost(host: string): boolean {
  const labels = host.split('.');
  return (
    labels.every((l) => /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$/.test(l)) &&
    !/^[0-9]+$/.test(labels[labels.length - 1] ?? '')
  );
}

/** The name cloudflared should use for `c` on `network`: the plainest one Docker's DNS resolves. */
function dnsName(c: ContainerInfo, network: ContainerNetwork): string {
  if (DNS_LABEL.test(c.name)) return c.name;
  const shortId = c.id.slice(0, 12);
  const name =
    network.aliases.find((a) => a !== shortId && DNS_LABEL.test(a)) ??
    (isUrlSafeHost(c.name) ? c.name : undefined) ??
    network.aliases.find((a) => a !== shortId && isUrlSafeHost(a)) ??
    network.aliases.find((a) => a === shortId);
  if (name) return name;
  throw unreachable(
    `Container ${c.name}'s name is not a DNS name cloudflared can resolve (labels of 1–63 characters, and no all-digit last label, which reads as an IP address).`,
    `Give it a plain network alias: \`docker network connect --alias ${c.name.replace(/[^a-zA-Z0-9-]/g, '-').toLowerCase()} ${network.networkName} ${c.name}\`, or rename it.`,
    { container: c.name },
  );
}

function containerToContainer(
  req: ParsedTargetRequest,
  place: CloudflaredPlace & { kind: 'container' },
  index: SnapshotIndex,
  service: ContainerInfo,
  owner: ContainerInfo,
): TargetSelection {
  const cfName = place.container.name;
  if (place.ns.id === owner.id) {
    return {
      url: urlOf(req, 'localhost', req.port),
      via: 'shared-namespace',
      container: service.name,
      reason:
        service.id === place.container.id
          ? `Container ${cfName} is cloudflared's own, so cloudflared reaches its port ${req.port} at ${address('localhost', req.port)}.`
          : `cloudflared's container ${cfName} and container ${service.name} share one network namespace, so cloudflared reaches it at ${address('localhost', req.port)}.`,
    };
  }
  const cfNetworks = new Set(place.ns.networks.filter(isUserNetwork).map((n) => n.networkName));
  const shared = owner.networks
    .filter((n) => isUserNetwork(n) && cfNetworks.has(n.networkName))
    .sort((a, b) => a.networkName.localeCompare(b.networkName));
  const first = shared[0];
  if (first) {
    const caveat = exposeNote(owner, req.port);
    const name = dnsName(owner, first);
    const through = owner === service ? '' : ` through container ${owner.name}, whose network it uses,`;
    return {
      url: urlOf(req, name, req.port),
      via: 'shared-network',
      container: service.name,
      reason: `cloudflared's container ${cfName} and container ${service.name} share the user-defined network ${first.networkName}, so cloudflared reaches it${through} by name at ${address(name, req.port)}${caveat}.`,
    };
  }
  // No shared network: a port published on every host address is still reachable through the
  // host gateway. Loopback-only bindings are not (they are the host's, not the bridge's).
  const gw = hostGateway(index, place.ns);
  const port = tcpPorts(owner).find((p) => p.containerPort === req.port);
  const binding =
    gw && port ? preferredBinding(port.published, (b) => ANY_ADDRESS.has(b.hostIp) || b.hostIp === gw.host) : null;
  if (gw && binding) {
    return {
      url: urlOf(req, gw.host, binding.hostPort),
      via: 'host-gateway',
      container: service.name,
      reason: `cloudflared's container ${cfName} shares no user-defined network with container ${service.name}, but ${service.name} publishes its port ${req.port} on ${address(binding.hostIp || '0.0.0.0', binding.hostPort)} and ${gw.says}, so cloudflared reaches it at ${address(gw.host, binding.hostPort)}.`,
    };
  }
  const onBridgeOnly =
    owner.networks.every((n) => !isUserNetwork(n)) && place.ns.networks.every((n) => !isUserNetwork(n));
  const cfNet = [...cfNetworks].sort()[0];
  // (After the fix below the engine still says NetworkMode `none`: only the attachment counts.)
  if (owner.networks.some((n) => n.networkName === 'none')) {
    // Docker refuses to connect a container in `none` mode to any network ("cannot be connected
    // to multiple networks with one of the networks in private (none) mode"): leave `none` first.
    const net = cfNet ?? 'tunnel';
    throw unreachable(
      `Container ${owner.name} runs with --network none, so no other container can reach it.`,
      `${cfNet ? '' : `Create a network for both (\`docker network create ${net} && docker network connect ${net} ${cfName}\`), then run`} \`docker network disconnect none ${owner.name} && docker network connect ${net} ${owner.name}\` (or recreate the container with --network ${net}), then retry.`.replace(
        /^ `/,
        'Run `',
      ),
      { container: service.name, port: req.port, networkMode: owner.networkMode },
    );
  }
  throw unreachable(
    `cloudflared's container ${cfName} shares no user-defined network with container ${service.name}${onBridgeOnly ? ' (the default bridge does not resolve container names)' : ''}.`,
    cfNet
      ? `Connect the service to cloudflared's network with \`docker network connect ${cfNet} ${owner.name}\`, then retry.`
      : `Create a network and connect both: \`docker network create tunnel && docker network connect tunnel ${cfName} && docker network connect tunnel ${owner.name}\`, then retry.`,
    { container: service.name, port: req.port, cloudflaredNetworks: [...cfNetworks] },
  );
}

/**
 * Several replicas behind one alias on a network cloudflared is on: the alias is the target, and
 * Docker's DNS spreads cloudflared's connections over the replicas that run. Every replica must
 * pass the ownership guard; stopped ones are left to Docker (its DNS answers only running ones).
 */
function replicaSet(
  req: ParsedTargetRequest,
  place: CloudflaredPlace,
  found: Found & { kind: 'replicas' },
  options: TargetSelectorOptions,
): TargetSelection {
  for (const r of found.replicas) {
    assertMayTargetContainer(req.actor, r, { enabled: options.ownershipGuard ?? false });
  }
  const running = found.replicas.filter((r) => r.state === 'running');
  const names = found.replicas.map((r) => r.name).sort();
  const first = [...found.replicas].sort((a, b) => byName(a, b))[0] as ContainerInfo;
  if (running.length === 0) assertRunning(first, req.port);
  if (place.kind !== 'container' || !isUrlSafeHost(found.alias)) {
    throw unreachable(
      `The name ${found.alias} matches ${names.length} containers (${names.join(', ')}).`,
      `Ask again with one container's exact name: ${names.join(' or ')}.`,
      { container: found.alias, candidates: names },
    );
  }
  const up = running.map((r) => r.name).sort();
  return {
    url: urlOf(req, found.alias, req.port),
    via: 'shared-network',
    container: found.alias,
    reason: `cloudflared's container ${place.container.name} shares the user-defined network ${found.network} with ${names.length} replicas answering to ${found.alias} (${up.length} running: ${up.join(', ')}), so cloudflared reaches them by that name at ${address(found.alias, req.port)} and Docker's DNS spreads the connections${exposeNote(first, req.port)}.`,
  };
}

const byName = (a: ContainerInfo, b: ContainerInfo) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Decides the ingress target for a service: a pure function of the topology and the request.
 *
 * - both on the host → `http://localhost:<port>`;
 * - cloudflared on the host, the service in a container → its published host port, or a refusal
 *   saying how to publish it;
 * - both in containers on a shared user-defined network → `http://<name>:<port>` (the default
 *   bridge does not resolve names, so it never counts as shared);
 * - cloudflared in a container, the service on the host → `host.docker.internal` when
 *   cloudflared's container maps it, else its network's gateway, else a refusal.
 *
 * The request is validated first. The scheme (default `http`) is carried into the URL.
 *
 * @throws TunnelError `INVALID_INPUT` for a malformed request, `NOT_OWNER` when the ownership
 * guard refuses the container, `TARGET_UNREACHABLE` with the exact fix in its hint otherwise.
 */
export function selectTarget(
  snapshot: TopologySnapshot,
  request: TargetRequest,
  options: TargetSelectorOptions = {},
): TargetSelection {
  const req = parseTargetRequest(request);
  const index = indexOf(snapshot);
  if (req.container !== null && !snapshot.docker.available) {
    throw unreachable(
      `Cannot look up container ${req.container}: Docker is not available (${snapshot.docker.reason}).`,
      "Make the Docker socket reachable for the manager (start dockerd, or add the manager's user to the docker group), then retry; or publish the service on a host port and ask without a container.",
      { container: req.container, docker: snapshot.docker.reason },
      true,
    );
  }
  const place = placeCloudflared(snapshot, index);
  if (req.container === null) return hostPort(req, place, index, null);

  const found = findContainer(index, snapshot, req.container, place);
  if (found.kind === 'replicas') return replicaSet(req, place, found, options);
  const service = found.container;
  assertMayTargetContainer(req.actor, service, { enabled: options.ownershipGuard ?? false });
  assertRunning(service, req.port);
  const owner = namespaceOwner(index, snapshot, service);
  if (owner !== service) assertRunning(owner, req.port);
  if (owner.networkMode === 'host') return hostPort(req, place, index, service);
  if (place.kind === 'host' || place.ns.networkMode === 'host') return publishedPort(req, place, service, owner);
  return containerToContainer(req, place, index, service, owner);
}
