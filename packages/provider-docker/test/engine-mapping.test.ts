/**
 * How the Engine API's JSON becomes the topology, on shapes recorded from Docker 20.10 (API
 * 1.41), including the nulls and empty strings the engine uses for stopped containers.
 */
import { describe, expect, it } from 'vitest';
import { describeDockerFailure, type RawContainerInspect, toContainerInfo, toDockerNetwork } from '../src/index.js';

const ID = 'f7afdd0b55111dbde1bda9e62ee8f395da4b957699a6e307e4df8c0d59b7096c';
const NET_ID = '20937d4e42891cc4012dde82cd59a0ccdc04b97b66117073f2330fa09c9cbbee';

const running: RawContainerInspect = {
  Id: ID,
  Name: '/svc',
  Path: 'sh',
  Args: ['-c', 'exec httpd -f -p 8080'],
  State: { Status: 'running' },
  Config: {
    Image: 'tmexp/busybox:1',
    Labels: { a: '1' },
    ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '9000/tcp': {} },
  },
  HostConfig: {
    NetworkMode: 'tmexp-net',
    PortBindings: { '8080/tcp': [{ HostIp: '', HostPort: '' }] },
    ExtraHosts: ['host.docker.internal:host-gateway'],
  },
  NetworkSettings: {
    Ports: {
      '8080/tcp': [
        { HostIp: '0.0.0.0', HostPort: '32768' },
        { HostIp: '::', HostPort: '32768' },
        { HostIp: '0.0.0.0', HostPort: '32768' },
      ],
      '53/udp': null,
      '9000/tcp': null,
    },
    Networks: {
      'tmexp-net': {
        NetworkID: NET_ID,
        IPAddress: '172.18.0.2',
        Gateway: '172.18.0.1',
        Aliases: ['svcalias', 'f7afdd0b5511'],
      },
      bridge: { NetworkID: 'b'.repeat(64), IPAddress: '172.17.0.2', Gateway: '172.17.0.1', Aliases: null },
    },
  },
};

const stopped: RawContainerInspect = {
  Id: ID,
  Name: '/stopped',
  Path: 'sleep',
  Args: ['100'],
  State: { Status: 'created' },
  Config: { Image: 'tmexp/busybox:1', Labels: null, ExposedPorts: { '80/tcp': {} } },
  HostConfig: {
    NetworkMode: 'tmexp-net',
    PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }], '81/tcp': [{ HostIp: '', HostPort: '' }] },
    ExtraHosts: null,
  },
  NetworkSettings: {
    Ports: {},
    Networks: { 'tmexp-net': { NetworkID: '', IPAddress: '', Gateway: '', Aliases: null } },
  },
};

describe('toContainerInfo', () => {
  it('maps a running container: live bindings, deduplicated; every exposed port once; name as an alias', () => {
    expect(toContainerInfo(running, new Map())).toEqual({
      id: ID,
      name: 'svc',
      image: 'tmexp/busybox:1',
      command: 'sh -c exec httpd -f -p 8080',
      state: 'running',
      labels: { a: '1' },
      networkMode: 'tmexp-net',
      networks: [
        {
          networkId: 'b'.repeat(64),
          networkName: 'bridge',
          ipAddress: '172.17.0.2',
          gateway: '172.17.0.1',
          aliases: [],
        },
        {
          networkId: NET_ID,
          networkName: 'tmexp-net',
          ipAddress: '172.18.0.2',
          gateway: '172.18.0.1',
          aliases: ['svc', 'svcalias', 'f7afdd0b5511'],
        },
      ],
      ports: [
        { containerPort: 53, protocol: 'udp', exposed: true, published: [] },
        {
          containerPort: 8080,
          protocol: 'tcp',
          exposed: true,
          published: [
            { hostIp: '0.0.0.0', hostPort: 32768 },
            { hostIp: '::', hostPort: 32768 },
          ],
        },
        { containerPort: 9000, protocol: 'tcp', exposed: true, published: [] },
      ],
      extraHosts: ['host.docker.internal:host-gateway'],
    });
  });

  it('maps a stopped container: configured bindings (not random ones), network ids from the list', () => {
    const info = toContainerInfo(stopped, new Map([['tmexp-net', NET_ID]]));
    expect(info.ports).toEqual([
      { containerPort: 80, protocol: 'tcp', exposed: true, published: [{ hostIp: '127.0.0.1', hostPort: 18080 }] },
      { containerPort: 81, protocol: 'tcp', exposed: false, published: [] },
    ]);
    expect(info.networks).toEqual([
      { networkId: NET_ID, networkName: 'tmexp-net', ipAddress: null, gateway: null, aliases: ['stopped'] },
    ]);
    expect(info.labels).toEqual({});
    expect(info.extraHosts).toEqual([]);
    expect(info.state).toBe('created');
  });

  it('survives a nearly empty inspect (fields the engine omits)', () => {
    expect(toContainerInfo({ Id: ID }, new Map())).toEqual({
      id: ID,
      name: '',
      image: '',
      command: '',
      state: 'dead',
      labels: {},
      networkMode: 'default',
      networks: [],
      ports: [],
      extraHosts: [],
    });
  });

  it('ignores port keys it cannot read', () => {
    const info = toContainerInfo(
      { Id: ID, Config: { ExposedPorts: { '0/tcp': {}, '70000/tcp': {}, 'x/tcp': {}, '22': {} } } },
      new Map(),
    );
    expect(info.ports).toEqual([{ containerPort: 22, protocol: 'tcp', exposed: true, published: [] }]);
  });
});

describe('toDockerNetwork', () => {
  it('prefers the IPv4 gateway and subnet', () => {
    expect(
      toDockerNetwork(
        {
          Id: NET_ID,
          Name: 'dual',
          Driver: 'bridge',
          Internal: false,
          IPAM: {
            Config: [
              { Subnet: 'fd00::/64', Gateway: 'fd00::1' },
              { Subnet: '172.30.0.0/16', Gateway: '172.30.0.1' },
            ],
          },
        },
        null,
      ),
    ).toEqual({
      id: NET_ID,
      name: 'dual',
      driver: 'bridge',
      internal: false,
      gateway: '172.30.0.1',
      subnet: '172.30.0.0/16',
    });
  });

  it('fills the default bridge gateway the IPAM leaves out from an attached container', () => {
    const raw = { Id: NET_ID, Name: 'bridge', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.17.0.0/16' }] } };
    expect(toDockerNetwork(raw, '172.17.0.1').gateway).toBe('172.17.0.1');
    expect(toDockerNetwork(raw, null).gateway).toBeNull();
    expect(toDockerNetwork({ Id: 'h', Name: 'host', Driver: 'host', IPAM: { Config: [] } }, null)).toEqual({
      id: 'h',
      name: 'host',
      driver: 'host',
      internal: false,
      gateway: null,
      subnet: null,
    });
  });
});

describe('describeDockerFailure (by code and status, never by message text)', () => {
  const engine = { socketPath: '/run/docker.sock', requestTimeoutMs: 500 };
  const sysError = (code: string) => Object.assign(new Error('whatever the text says'), { code });
  it.each([
    [sysError('ENOENT'), 'the Docker socket /run/docker.sock does not exist', 'engine'],
    [sysError('EACCES'), 'permission denied on the Docker socket /run/docker.sock', 'process'],
    [sysError('EPERM'), 'permission denied on the Docker socket /run/docker.sock', 'process'],
    [
      sysError('ECONNREFUSED'),
      'nothing accepts connections on the Docker socket /run/docker.sock (dockerd is not running)',
      'engine',
    ],
    [sysError('ECONNRESET'), 'the Docker engine at /run/docker.sock closed the connection', 'engine'],
    [
      Object.assign(new Error('x'), { name: 'AbortError', code: 'ABORT_ERR' }),
      'the Docker engine at /run/docker.sock did not answer within 500 ms',
      'engine',
    ],
    [
      Object.assign(new Error('x'), { statusCode: 403, json: { message: 'denied' } }),
      'the Docker engine at /run/docker.sock refused access (HTTP 403: denied)',
      'process',
    ],
    [
      Object.assign(new Error('x'), { statusCode: 500, json: null }),
      'the Docker engine at /run/docker.sock answered HTTP 500',
      'engine',
    ],
    [sysError('EHOSTDOWN'), 'cannot use the Docker engine at /run/docker.sock (EHOSTDOWN)', 'engine'],
  ])('%s', (error, reason, scope) => {
    expect(describeDockerFailure(error, engine)).toMatchObject({ reason, scope });
  });
});
