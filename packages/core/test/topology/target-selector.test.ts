import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Actor,
  type ErrorCode,
  isTunnelError,
  PROJECT_LABEL,
  selectTarget,
  type TargetRequest,
  type TargetRoute,
  type TopologySnapshot,
} from '../../src/index.js';
import { container, idOf, inContainer, network, onHost, snapshot } from './fixtures.js';

const admin = Actor.admin();
const alice = Actor.project('alice');

// --- the topologies the table runs over ---

/** cloudflared on the host; services on the host and in containers. */
const hostCf = snapshot(onHost, [
  container('web', { networks: [['appnet']], ports: [[80, ['127.0.0.1:8080']]] }),
  container('api', { networks: [['bridge']], ports: [[3000, ['0.0.0.0:13000', ':::13000']]] }),
  container('lan', { networks: [['bridge']], ports: [[80, ['10.1.2.3:8081']]] }),
  container('db', { networks: [['appnet']], ports: [[5432]] }),
  container('dns', { networks: [['appnet']], ports: [[53, ['127.0.0.1:5353'], 'udp']] }),
  container('hostnet', { networkMode: 'host', networks: [['host']] }),
  container('stopped', { state: 'exited', networks: [['appnet']], ports: [[80, ['127.0.0.1:8090']]] }),
  container('created', { state: 'created', networks: [['appnet']] }),
  container('paused', { state: 'paused', networks: [['appnet']] }),
  container('looping', { state: 'restarting', networks: [['appnet']] }),
  container('App', { networks: [['appnet']] }),
  container('replica-1', { networks: [['appnet', ['web-svc']]] }),
  container('replica-2', { networks: [['appnet', ['web-svc']]] }),
  container('solo-1', { networks: [['appnet', ['solo']]], ports: [[80, ['127.0.0.1:8099']]] }),
  container('sidecar', { networkMode: `container:${idOf('web')}`, networks: [] }),
  container('orphan', { networkMode: 'container:gone', networks: [] }),
  container('v6only', { networks: [['bridge']], ports: [[80, ['::1:8443']]] }),
]);

/** cloudflared in a container on the user network `edge` (and `shared2`). */
const cfNets = snapshot(
  inContainer('cloudflared'),
  [
    container('cloudflared', {
      image: 'cloudflare/cloudflared:2026.8.0',
      networks: [
        ['edge', [], '172.20.0.1'],
        ['shared2', [], '172.21.0.1'],
      ],
    }),
    container('app', { networks: [['edge']], ports: [[80]] }),
    container('multi', { networks: [['zeta'], ['shared2', ['multi-alias']], ['alpha']], ports: [[8080]] }),
    container('bare', { networks: [['edge']] }),
    container('narrow', { networks: [['edge']], ports: [[80], [443]] }),
    container('Odd_Name', { networks: [['edge', ['odd']]], ports: [[80]] }),
    container('island', { networks: [['other']], ports: [[80, ['127.0.0.1:9000']]] }),
    container('island-public', { networks: [['other']], ports: [[80, ['0.0.0.0:9001']]] }),
    container('lonely', { networks: [['bridge']], ports: [[80]] }),
    container('hostnet', { networkMode: 'host', networks: [['host']] }),
    container('in-ns', { networkMode: `container:${idOf('cloudflared')}`, networks: [] }),
    container('rides-app', { networkMode: 'container:app', networks: [] }),
  ],
  [network('edge', { gateway: '172.20.0.1' }), network('shared2', { gateway: '172.21.0.1' })],
);

/** cloudflared in a container that maps host.docker.internal. */
const cfMapsHost = snapshot(inContainer('cf'), [
  container('cf', { networks: [['edge', [], '172.20.0.1']], extraHosts: ['host.docker.internal:host-gateway'] }),
  container('island-public', { networks: [['other']], ports: [[80, ['0.0.0.0:9001']]] }),
  container('island-local', { networks: [['other']], ports: [[80, ['127.0.0.1:9002']]] }),
]);

/** cloudflared in a container that maps another name to the host gateway. */
const cfMapsOtherName = snapshot(inContainer('cf'), [
  container('cf', { networks: [['edge']], extraHosts: ['dockerhost:host-gateway'] }),
]);

/** cloudflared on the default bridge only (its gateway known from the network). */
const cfBridge = snapshot(
  inContainer('cf'),
  [container('cf', { networks: [['bridge']] }), container('lonely', { networks: [['bridge']], ports: [[80]] })],
  [network('bridge', { gateway: '172.17.0.1' })],
);

/** cloudflared in a container on an internal network only: no way to the host. */
const cfInternal = snapshot(
  inContainer('cf'),
  [container('cf', { networks: [['sealed', [], '172.30.0.1']] })],
  [network('sealed', { gateway: '172.30.0.1', internal: true })],
);

/** cloudflared in a container with no network at all. */
const cfNone = snapshot(inContainer('cf'), [container('cf', { networkMode: 'none', networks: [['none']] })]);

/** cloudflared in a container on an IPv6-only network. */
const cfV6 = snapshot(inContainer('cf'), [container('cf', { networks: [['v6net', [], 'fd00::1']] })]);

/** cloudflared in a container on the host network. */
const cfHostNet = snapshot(inContainer('cf'), [
  container('cf', { networkMode: 'host', networks: [['host']] }),
  container('web', { networks: [['appnet']], ports: [[80, ['127.0.0.1:8080']]] }),
  container('db', { networks: [['appnet']], ports: [[5432]] }),
]);

/** cloudflared shares a sidecar's network namespace; the sidecar is on `edge`. */
const cfInSidecarNs = snapshot(inContainer('cf'), [
  container('pod', { networks: [['edge']] }),
  container('cf', { networkMode: `container:${idOf('pod')}`, networks: [] }),
  container('app', { networks: [['edge']], ports: [[80]] }),
]);

const ambiguous = snapshot({ kind: 'ambiguous', candidates: ['host (pid 10)', 'container old-cf'], detail: 'both' }, [
  container('web', { networks: [['edge']], ports: [[80]] }),
]);
const unknownCf = snapshot({ kind: 'unknown', detail: 'no cloudflared process or container was found' }, [
  container('web', { networks: [['edge']], ports: [[80]] }),
]);
const dockerDown = snapshot(onHost, [], [], {
  available: false,
  reason: 'Docker socket /var/run/docker.sock does not exist',
});
const dockerDownUnknownCf = snapshot({ kind: 'unknown', detail: 'no cloudflared process was found' }, [], [], {
  available: false,
  reason: 'Docker socket /var/run/docker.sock does not exist',
});
const missingCfContainer = snapshot({ kind: 'container', containerId: 'deadbeef', detail: 'container x' }, []);

const guarded = snapshot(inContainer('cf'), [
  container('cf', { networks: [['edge']] }),
  container('mine', { networks: [['edge']], ports: [[80]], labels: { [PROJECT_LABEL]: 'alice' } }),
  container('theirs', { networks: [['edge']], ports: [[80]], labels: { [PROJECT_LABEL]: 'bob' } }),
  container('unlabelled', { networks: [['edge']], ports: [[80]] }),
]);

// --- the table ---

interface Ok {
  name: string;
  snap: TopologySnapshot;
  req: Omit<TargetRequest, 'actor'> & { actor?: Actor };
  guard?: boolean;
  url: string;
  via: TargetRoute;
  reason: RegExp;
}

const ok: Ok[] = [
  // EXPOSE is advisory (issue 18): a port the image does not declare is accepted, with a note.
  {
    name: 'port not exposed on the shared network',
    snap: cfNets,
    req: { container: 'narrow', port: 3000 },
    url: 'http://narrow:3000',
    via: 'shared-network',
    reason:
      /\(it declares 80\/tcp, 443\/tcp, not 3000: EXPOSE is only advisory, so make sure the service listens on 3000\)\./,
  },
  // both on the host
  {
    name: 'host service',
    snap: hostCf,
    req: { port: 3000 },
    url: 'http://localhost:3000',
    via: 'localhost',
    reason: /cloudflared runs on the host, so it reaches the host's port 3000 at localhost:3000\./,
  },
  {
    name: 'host service, scheme https',
    snap: hostCf,
    req: { port: 8443, scheme: 'https' },
    url: 'https://localhost:8443',
    via: 'localhost',
    reason: /localhost:8443/,
  },
  {
    name: 'host service, scheme tcp',
    snap: hostCf,
    req: { port: 5432, scheme: 'tcp' },
    url: 'tcp://localhost:5432',
    via: 'localhost',
    reason: /5432/,
  },
  {
    name: 'host service, scheme ssh',
    snap: hostCf,
    req: { port: 22, scheme: 'ssh', container: null },
    url: 'ssh://localhost:22',
    via: 'localhost',
    reason: /22/,
  },
  {
    name: 'host service while Docker is down',
    snap: dockerDown,
    req: { port: 3000 },
    url: 'http://localhost:3000',
    via: 'localhost',
    reason: /runs on the host/,
  },
  {
    name: 'container on the host network',
    snap: hostCf,
    req: { container: 'hostnet', port: 9100 },
    url: 'http://localhost:9100',
    via: 'localhost',
    reason: /container hostnet \(on the host network\) on port 9100 at localhost:9100/,
  },
  // cloudflared on the host, service in a container
  {
    name: 'published on 127.0.0.1',
    snap: hostCf,
    req: { container: 'web', port: 80 },
    url: 'http://localhost:8080',
    via: 'published-port',
    reason: /container web publishes its port 80 on 127\.0\.0\.1:8080, so cloudflared reaches it at localhost:8080/,
  },
  {
    name: 'published on 0.0.0.0 and ::',
    snap: hostCf,
    req: { container: 'api', port: 3000 },
    url: 'http://localhost:13000',
    via: 'published-port',
    reason: /0\.0\.0\.0:13000/,
  },
  {
    name: 'published on one LAN address',
    snap: hostCf,
    req: { container: 'lan', port: 80 },
    url: 'http://10.1.2.3:8081',
    via: 'published-port',
    reason: /10\.1\.2\.3:8081/,
  },
  {
    name: 'published on ::1 only',
    snap: hostCf,
    req: { container: 'v6only', port: 80 },
    url: 'http://[::1]:8443',
    via: 'published-port',
    reason: /\[::1\]:8443/,
  },
  {
    name: 'scheme carried to a published port',
    snap: hostCf,
    req: { container: 'web', port: 80, scheme: 'https' },
    url: 'https://localhost:8080',
    via: 'published-port',
    reason: /8080/,
  },
  {
    name: 'container by unique alias',
    snap: hostCf,
    req: { container: 'solo', port: 80 },
    url: 'http://localhost:8099',
    via: 'published-port',
    reason: /container solo-1/,
  },
  {
    name: 'container by id prefix',
    snap: hostCf,
    req: { container: idOf('web').slice(0, 12), port: 80 },
    url: 'http://localhost:8080',
    via: 'published-port',
    reason: /container web/,
  },
  {
    name: 'container by full id',
    snap: hostCf,
    req: { container: idOf('web'), port: 80 },
    url: 'http://localhost:8080',
    via: 'published-port',
    reason: /container web/,
  },
  {
    name: "container in another one's namespace uses its published ports",
    snap: hostCf,
    req: { container: 'sidecar', port: 80 },
    url: 'http://localhost:8080',
    via: 'published-port',
    reason: /container sidecar publishes/,
  },
  // cloudflared in a container, on the host network
  {
    name: 'cloudflared on the host network, host service',
    snap: cfHostNet,
    req: { port: 3000 },
    url: 'http://localhost:3000',
    via: 'localhost',
    reason: /cloudflared's container cf uses the host network, so it reaches the host's port 3000 at localhost:3000/,
  },
  {
    name: 'cloudflared on the host network, published container',
    snap: cfHostNet,
    req: { container: 'web', port: 80 },
    url: 'http://localhost:8080',
    via: 'published-port',
    reason: /uses the host network and container web publishes/,
  },
  // both in containers
  {
    name: 'shared user network',
    snap: cfNets,
    req: { container: 'app', port: 80 },
    url: 'http://app:80',
    via: 'shared-network',
    reason:
      /cloudflared's container cloudflared and container app share the user-defined network edge, so cloudflared reaches it by name at app:80\./,
  },
  {
    name: 'shared network, scheme tcp',
    snap: cfNets,
    req: { container: 'app', port: 80, scheme: 'tcp' },
    url: 'tcp://app:80',
    via: 'shared-network',
    reason: /app:80/,
  },
  {
    name: 'service on several networks: the shared one',
    snap: cfNets,
    req: { container: 'multi', port: 8080 },
    url: 'http://multi:8080',
    via: 'shared-network',
    reason: /network shared2/,
  },
  {
    name: 'service found by its alias on the shared network',
    snap: cfNets,
    req: { container: 'multi-alias', port: 8080 },
    url: 'http://multi:8080',
    via: 'shared-network',
    reason: /container multi share/,
  },
  {
    name: 'declares no ports: allowed, with the caveat',
    snap: cfNets,
    req: { container: 'bare', port: 9000 },
    url: 'http://bare:9000',
    via: 'shared-network',
    reason: /declares no ports, so the service must listen on 9000/,
  },
  {
    name: 'name that is no DNS label: its alias',
    snap: cfNets,
    req: { container: 'Odd_Name', port: 80 },
    url: 'http://odd:80',
    via: 'shared-network',
    reason: /at odd:80/,
  },
  {
    name: "service in cloudflared's own namespace",
    snap: cfNets,
    req: { container: 'in-ns', port: 7000 },
    url: 'http://localhost:7000',
    via: 'shared-namespace',
    reason: /share one network namespace/,
  },
  {
    name: "service in a shared-network container's namespace",
    snap: cfNets,
    req: { container: 'rides-app', port: 80 },
    url: 'http://app:80',
    via: 'shared-network',
    reason: /through container app, whose network it uses/,
  },
  {
    name: "cloudflared in a sidecar's namespace",
    snap: cfInSidecarNs,
    req: { container: 'app', port: 80 },
    url: 'http://app:80',
    via: 'shared-network',
    reason: /network edge/,
  },
  // cloudflared in a container, service on the host
  {
    name: 'host service via host.docker.internal',
    snap: cfMapsHost,
    req: { port: 3000 },
    url: 'http://host.docker.internal:3000',
    via: 'host-gateway',
    reason:
      /maps host\.docker\.internal to the host, so it reaches the host's port 3000 at host\.docker\.internal:3000/,
  },
  {
    name: 'host service via another name mapped to host-gateway',
    snap: cfMapsOtherName,
    req: { port: 3000 },
    url: 'http://dockerhost:3000',
    via: 'host-gateway',
    reason: /maps dockerhost to the host/,
  },
  {
    name: 'host service via the network gateway',
    snap: cfNets,
    req: { port: 3000 },
    url: 'http://172.20.0.1:3000',
    via: 'host-gateway',
    reason: /network edge has the gateway 172\.20\.0\.1.*must listen on 172\.20\.0\.1 or 0\.0\.0\.0/,
  },
  {
    name: 'host service via the default bridge gateway',
    snap: cfBridge,
    req: { port: 3000 },
    url: 'http://172.17.0.1:3000',
    via: 'host-gateway',
    reason: /network bridge has the gateway 172\.17\.0\.1/,
  },
  {
    name: 'host service via an IPv6 gateway',
    snap: cfV6,
    req: { port: 3000, scheme: 'https' },
    url: 'https://[fd00::1]:3000',
    via: 'host-gateway',
    reason: /\[fd00::1\]:3000/,
  },
  {
    name: "the service is cloudflared's own container",
    snap: cfMapsHost,
    req: { container: 'cf', port: 20241 },
    url: 'http://localhost:20241',
    via: 'shared-namespace',
    reason: /Container cf is cloudflared's own, so cloudflared reaches its port 20241 at localhost:20241\./,
  },
  {
    name: 'no shared network, but published on every address',
    snap: cfMapsHost,
    req: { container: 'island-public', port: 80 },
    url: 'http://host.docker.internal:9001',
    via: 'host-gateway',
    reason:
      /shares no user-defined network with container island-public, but island-public publishes its port 80 on 0\.0\.0\.0:9001/,
  },
  {
    name: 'no shared network, published on every address, via the gateway',
    snap: cfNets,
    req: { container: 'island-public', port: 80 },
    url: 'http://172.20.0.1:9001',
    via: 'host-gateway',
    reason: /172\.20\.0\.1:9001/,
  },
  // ownership guard
  {
    name: 'guard on: a project publishes its labelled container',
    snap: guarded,
    guard: true,
    req: { actor: alice, container: 'mine', port: 80 },
    url: 'http://mine:80',
    via: 'shared-network',
    reason: /mine/,
  },
  {
    name: 'guard on: an admin publishes any container',
    snap: guarded,
    guard: true,
    req: { actor: admin, container: 'theirs', port: 80 },
    url: 'http://theirs:80',
    via: 'shared-network',
    reason: /theirs/,
  },
  {
    name: 'guard off: a project publishes an unlabelled container',
    snap: guarded,
    guard: false,
    req: { actor: alice, container: 'unlabelled', port: 80 },
    url: 'http://unlabelled:80',
    via: 'shared-network',
    reason: /unlabelled/,
  },
  {
    name: 'guard on: host ports have no owner',
    snap: cfMapsHost,
    guard: true,
    req: { actor: alice, port: 3000 },
    url: 'http://host.docker.internal:3000',
    via: 'host-gateway',
    reason: /3000/,
  },
];

interface Refused {
  name: string;
  snap: TopologySnapshot;
  req: Omit<TargetRequest, 'actor'> & { actor?: Actor };
  guard?: boolean;
  code: ErrorCode;
  message: RegExp;
  hint: RegExp;
  retryable?: boolean;
}

const refused: Refused[] = [
  {
    name: 'port not published',
    snap: hostCf,
    req: { container: 'db', port: 5432 },
    code: 'TARGET_UNREACHABLE',
    message: /Container db does not publish its port 5432 on the host, and cloudflared runs on the host/,
    hint: /Recreate container db with -p 127\.0\.0\.1:5432:5432/,
  },
  {
    name: 'a host port asked for instead of the container port',
    snap: hostCf,
    req: { container: 'web', port: 8080 },
    code: 'TARGET_UNREACHABLE',
    message: /does not publish its port 8080/,
    hint: /Port 8080 is web's host port for its container port 80: ask for port 80 instead\./,
  },
  {
    name: 'only a UDP port published',
    snap: hostCf,
    req: { container: 'dns', port: 53 },
    code: 'TARGET_UNREACHABLE',
    message: /does not publish its port 53/,
    hint: /-p 127\.0\.0\.1:53:53/,
  },
  {
    name: 'cloudflared on the host network, port not published',
    snap: cfHostNet,
    req: { container: 'db', port: 5432 },
    code: 'TARGET_UNREACHABLE',
    message: /cloudflared's container cf uses the host network/,
    hint: /-p 127\.0\.0\.1:5432:5432/,
  },
  {
    name: 'stopped container',
    snap: hostCf,
    req: { container: 'stopped', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /Container stopped is exited, so nothing answers on its port 80\./,
    hint: /docker start stopped/,
    retryable: true,
  },
  {
    name: 'created, never started',
    snap: hostCf,
    req: { container: 'created', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /is created/,
    hint: /docker start created/,
  },
  {
    name: 'paused container',
    snap: hostCf,
    req: { container: 'paused', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /is paused/,
    hint: /docker unpause paused/,
  },
  {
    name: 'restarting container',
    snap: hostCf,
    req: { container: 'looping', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /is restarting/,
    hint: /docker logs looping/,
  },
  {
    name: 'unknown container',
    snap: hostCf,
    req: { container: 'nope', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /No container named nope exists\./,
    hint: /docker ps -a/,
  },
  {
    name: 'wrong case',
    snap: hostCf,
    req: { container: 'app', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /No container named app/,
    hint: /Did you mean App\? Container names are case-sensitive\./,
  },
  {
    name: 'ambiguous name (an alias of two containers)',
    snap: hostCf,
    req: { container: 'web-svc', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /The name web-svc matches 2 containers \(replica-1, replica-2\)\./,
    hint: /replica-1 or replica-2/,
  },
  {
    name: 'namespace owner gone',
    snap: hostCf,
    req: { container: 'orphan', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /uses the network of container gone, which does not exist/,
    hint: /recreate orphan/,
  },
  {
    name: 'default bridge is not a shared network',
    snap: cfBridge,
    req: { container: 'lonely', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message:
      /shares no user-defined network with container lonely \(the default bridge does not resolve container names\)/,
    hint: /docker network create tunnel && docker network connect tunnel cf && docker network connect tunnel lonely/,
  },
  {
    name: 'no shared network',
    snap: cfNets,
    req: { container: 'island', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /shares no user-defined network with container island\./,
    hint: /docker network connect edge island/,
  },
  {
    name: 'no shared network, published on loopback only',
    snap: cfMapsHost,
    req: { container: 'island-local', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /shares no user-defined network with container island-local/,
    hint: /docker network connect edge island-local/,
  },
  {
    name: 'on the default bridge, cloudflared on user networks',
    snap: cfNets,
    req: { container: 'lonely', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /shares no user-defined network with container lonely\./,
    hint: /docker network connect edge lonely/,
  },
  {
    name: 'cloudflared on an internal network only',
    snap: cfInternal,
    req: { port: 3000 },
    code: 'TARGET_UNREACHABLE',
    message: /has no route to the host for the host's port 3000/,
    hint: /--add-host host\.docker\.internal:host-gateway/,
  },
  {
    name: 'cloudflared with no network',
    snap: cfNone,
    req: { port: 3000 },
    code: 'TARGET_UNREACHABLE',
    message: /cloudflared's container cf has no route to the host/,
    hint: /--add-host host\.docker\.internal:host-gateway/,
  },
  {
    name: 'host-network service, cloudflared with no route to the host',
    snap: snapshot(inContainer('cf'), [
      container('cf', { networkMode: 'none', networks: [['none']] }),
      container('hostnet', { networkMode: 'host', networks: [['host']] }),
    ]),
    req: { container: 'hostnet', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /container hostnet \(on the host network\)/,
    hint: /host-gateway/,
  },
  {
    name: 'cloudflared in two places',
    snap: ambiguous,
    req: { container: 'web', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /cloudflared runs in more than one place \(host \(pid 10\), container old-cf\)/,
    hint: /set docker\.cloudflaredContainer/,
  },
  {
    name: 'cloudflared in two places, host service',
    snap: ambiguous,
    req: { port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /more than one place/,
    hint: /Stop the cloudflared that does not serve the tunnel/,
  },
  {
    name: 'cloudflared not found',
    snap: unknownCf,
    req: { port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /Cannot tell where cloudflared runs: no cloudflared process or container was found\./,
    hint: /Start cloudflared/,
    retryable: true,
  },
  {
    name: 'cloudflared container missing from the snapshot',
    snap: missingCfContainer,
    req: { port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /missing from the topology snapshot/,
    hint: /Retry/,
    retryable: true,
  },
  {
    name: 'Docker unreachable, container asked for',
    snap: dockerDown,
    req: { container: 'web', port: 80 },
    code: 'TARGET_UNREACHABLE',
    message:
      /Cannot look up container web: Docker is not available \(Docker socket \/var\/run\/docker\.sock does not exist\)\./,
    hint: /start dockerd, or add the manager's user to the docker group/,
    retryable: true,
  },
  {
    name: 'Docker unreachable, cloudflared not found',
    snap: dockerDownUnknownCf,
    req: { port: 80 },
    code: 'TARGET_UNREACHABLE',
    message: /Cannot tell where cloudflared runs/,
    hint: /Start cloudflared/,
  },
  {
    name: "guard on: another project's container",
    snap: guarded,
    guard: true,
    req: { actor: alice, container: 'theirs', port: 80 },
    code: 'NOT_OWNER',
    message: /Container theirs is not labelled tunnel\.project=alice, so project alice may not publish it\./,
    hint: /--label tunnel\.project=alice/,
  },
  {
    name: 'guard on: an unlabelled container',
    snap: guarded,
    guard: true,
    req: { actor: alice, container: 'unlabelled', port: 80 },
    code: 'NOT_OWNER',
    message: /not labelled tunnel\.project=alice/,
    hint: /ask an admin/,
  },
];

const oneSentence = (text: string) => {
  expect(text.endsWith('.')).toBe(true);
  expect(text.split(/[.?!]\s/).length, text).toBe(1);
};

describe('selectTarget: the four scenarios and their edge cases', () => {
  it.each(ok)('$name → $url', ({ snap, req, guard, url, via, reason }) => {
    const before = structuredClone(snap);
    const selection = selectTarget(snap, { actor: admin, ...req }, { ownershipGuard: guard ?? false });
    expect(selection.url).toBe(url);
    expect(selection.via).toBe(via);
    expect(selection.reason).toMatch(reason);
    oneSentence(selection.reason);
    // A valid ingress service: scheme, host, port, and no path (cloudflared rejects even "/").
    expect(selection.url).toMatch(/^(https?|tcp|ssh):\/\/[^/]+:\d+$/);
    expect(snap).toEqual(before);
  });

  it.each(refused)('$name → $code', ({ snap, req, guard, code, message, hint, retryable }) => {
    const before = structuredClone(snap);
    let error: unknown;
    try {
      selectTarget(snap, { actor: admin, ...req }, { ownershipGuard: guard ?? false });
    } catch (e) {
      error = e;
    }
    expect(isTunnelError(error, code), String(error)).toBe(true);
    const e = error as { message: string; hint: string; retryable: boolean };
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(hint);
    oneSentence(e.message);
    if (retryable !== undefined) expect(e.retryable).toBe(retryable);
    expect(snap).toEqual(before);
  });
});

describe('selectTarget: input validation comes first', () => {
  const bad = (req: Record<string, unknown>) => () =>
    selectTarget(ambiguous, { actor: admin, port: 80, ...req } as unknown as TargetRequest);

  it.each([
    ['a b'],
    ['app;rm -rf /'],
    ["app'"],
    ['app"'],
    ['a:b'],
    ['/app'],
    [''],
    ['$(id)'],
    ['`id`'],
    ['a\nb'],
    ['-app'],
    ['.app'],
    ['app#1'],
    ['{a: 1}'],
    ['a&b'],
    ['a|b'],
    ['app\u0000'],
    ['x'.repeat(129)],
    [42],
    [{}],
  ])('refuses the container name %j with INVALID_INPUT, even when cloudflared is ambiguous', (name) => {
    expect(bad({ container: name })).toThrowError(expect.objectContaining({ code: 'INVALID_INPUT' }));
    try {
      bad({ container: name })();
    } catch (error) {
      expect((error as { details: { field: string } }).details.field).toBe('container');
      expect((error as { hint: string }).hint).toMatch(/letters, digits/);
      expect((error as Error).message.length).toBeLessThan(140);
    }
  });

  it.each([[0], [65536], [-1], [80.5], [Number.NaN], [Number.POSITIVE_INFINITY], ['80'], [null], [undefined]])(
    'refuses the port %j with INVALID_INPUT',
    (port) => {
      expect(bad({ port })).toThrowError(
        expect.objectContaining({ code: 'INVALID_INPUT', details: { field: 'port' } }),
      );
    },
  );

  it.each([['ftp'], ['HTTP'], ['http://'], [1]])('refuses the scheme %j with INVALID_INPUT', (scheme) => {
    expect(bad({ scheme })).toThrowError(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { field: 'scheme' } }),
    );
  });

  it('refuses a missing or malformed actor', () => {
    expect(bad({ actor: undefined })).toThrowError(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(bad({ actor: { kind: 'project', project: 'Bad Name' } })).toThrowError(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    expect(bad({ actor: { kind: 'root' } })).toThrowError(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('accepts the edges of the port range and a 128-character name', () => {
    expect(selectTarget(hostCf, { actor: admin, port: 1 }).url).toBe('http://localhost:1');
    expect(selectTarget(hostCf, { actor: admin, port: 65535 }).url).toBe('http://localhost:65535');
    const long = `a${'b'.repeat(127)}`;
    const snap = snapshot(inContainer('cf'), [
      container('cf', { networks: [['edge']] }),
      container(long, { networks: [['edge']], ports: [[80]] }),
    ]);
    // Docker accepts the name, but no DNS label is longer than 63: cloudflared could not resolve it.
    expect(() => selectTarget(snap, { actor: admin, container: long, port: 80 })).toThrowError(
      expect.objectContaining({ code: 'TARGET_UNREACHABLE', hint: expect.stringContaining('--alias') }),
    );
    const aliased = snapshot(inContainer('cf'), [
      container('cf', { networks: [['edge']] }),
      container(long, { networks: [['edge', ['svc']]], ports: [[80]] }),
    ]);
    expect(selectTarget(aliased, { actor: admin, container: long, port: 80 }).url).toBe('http://svc:80');
  });

  // Regression: fast-check found `A.0`, a valid Docker name whose numeric last label the WHATWG
  // URL parser reads as IPv4, so the URL could not be built.
  it('refuses a container name that reads as an IP address unless an alias can stand in', () => {
    const snap = snapshot(inContainer('cf'), [
      container('cf', { networks: [['edge']] }),
      container('web.1', { networks: [['edge']], ports: [[80]] }),
    ]);
    expect(() => selectTarget(snap, { actor: admin, container: 'web.1', port: 80 })).toThrowError(
      expect.objectContaining({ code: 'TARGET_UNREACHABLE' }),
    );
  });
});

describe('selectTarget: properties', () => {
  it('never puts anything but a valid name and port into the URL', () => {
    const snap = snapshot(inContainer('cf'), [container('cf', { networks: [['edge']] })]);
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.integer({ min: -5, max: 70_000 }), (name, port) => {
        const withService = {
          ...snap,
          containers: [...snap.containers, container(name || 'x', { networks: [['edge']] })],
        };
        try {
          const { url } = selectTarget(withService, { actor: admin, container: name, port });
          const parsed = new URL(url);
          expect(parsed.pathname === '/' || parsed.pathname === '').toBe(true);
          expect(url).toMatch(/^http:\/\/[a-zA-Z0-9._-]+:\d{1,5}$/);
        } catch (error) {
          expect(isTunnelError(error), String(error)).toBe(true);
          expect(['INVALID_INPUT', 'TARGET_UNREACHABLE']).toContain((error as { code: string }).code);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('gives the same answer for a frozen snapshot, and caches nothing that changes it', () => {
    const deepFreeze = <T>(value: T): T => {
      if (value && typeof value === 'object') {
        for (const v of Object.values(value)) deepFreeze(v);
        Object.freeze(value);
      }
      return value;
    };
    const frozen = deepFreeze(structuredClone(cfNets));
    const a = selectTarget(frozen, { actor: admin, container: 'app', port: 80 });
    const b = selectTarget(frozen, { actor: admin, container: 'app', port: 80 });
    expect(a).toEqual(b);
    expect(a.url).toBe('http://app:80');
  });
});
