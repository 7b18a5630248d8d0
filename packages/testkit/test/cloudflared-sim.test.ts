import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cloudflaredSimPath,
  httpJson,
  KNOWN_METRICS_PORTS,
  NO_FAULTS,
  parseFaultList,
  parseGoDuration,
  parseSimCommand,
  type SimExit,
  type SimProcess,
  SimUsageError,
  startCloudflaredSim,
  writeTunnelCredentials,
} from '../src/index.js';

const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const VALID = `tunnel: ${TUNNEL_ID}
ingress:
  - hostname: app.example.com
    service: http://localhost:8080
  - hostname: api.example.com
    path: ^/v1/
    service: http://localhost:9090
    originRequest:
      connectTimeout: 10s
  - service: http_status:404
`;

const dirs: string[] = [];
const sims: SimProcess[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.stop(2_000)));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A config file in a fresh directory. Like a real one it names its tunnel's credentials file
 * (written beside it), unless the text names one itself or `credentials` is false.
 */
function writeConfig(text: string, options: { credentials?: boolean; credentialsFor?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tm-sim-'));
  dirs.push(dir);
  const path = join(dir, 'config.yml');
  let body = text;
  if (options.credentials !== false && !text.includes('credentials-file')) {
    const credentials = join(dir, `${TUNNEL_ID}.json`);
    writeTunnelCredentials(credentials, options.credentialsFor ?? TUNNEL_ID);
    // Appended, so the line numbers of the given text stay as written.
    body = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}credentials-file: ${credentials}\n`;
  }
  writeFileSync(path, body);
  return path;
}

/** An environment whose HOME holds no cloudflared files (cloudflared searches ~/.cloudflared). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'tm-sim-home-'));
  dirs.push(home);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: home, ...extra };
  return env;
}

async function start(options: Parameters<typeof startCloudflaredSim>[0]): Promise<SimProcess> {
  const sim = await startCloudflaredSim(options);
  sims.push(sim);
  return sim;
}

/** Runs the sim to completion (for commands that exit on their own). */
function runSim(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<SimExit & { stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cloudflaredSimPath(), ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ready = (sim: SimProcess) => httpJson(`${sim.metricsUrl}/ready`, 'GET', undefined, 3_000);

describe('simulated cloudflared: endpoints', () => {
  it('answers /ready 503 until its edge connections register, then 200, in cloudflared’s shape', async () => {
    const sim = await start({ configPath: writeConfig(VALID), faults: 'slow-start=1500ms' });
    const early = await ready(sim);
    expect(early.status).toBe(503);
    expect(early.body).toEqual({ status: 503, readyConnections: 0, connectorId: expect.any(String) });
    await sim.waitUntilReady();
    const later = await ready(sim);
    expect(later.status).toBe(200);
    const body = later.body as { status: number; readyConnections: number; connectorId: string };
    expect(body.status).toBe(200);
    expect(body.readyConnections).toBeGreaterThanOrEqual(1);
    expect(body.connectorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.connectorId).toBe((early.body as { connectorId: string }).connectorId);
  });

  it('serves /healthcheck, /metrics with the real metric names, and /config with the ingress it runs', async () => {
    const path = writeConfig(VALID);
    const sim = await start({ configPath: path });
    await sim.waitUntilReady();
    const health = await httpJson(`${sim.metricsUrl}/healthcheck`, 'GET');
    expect(health).toMatchObject({ status: 200, text: 'OK\n' });
    const metrics = await httpJson(`${sim.metricsUrl}/metrics`, 'GET');
    for (const name of [
      'cloudflared_tunnel_ha_connections',
      'cloudflared_tunnel_total_requests',
      'cloudflared_tunnel_request_errors',
      'cloudflared_tunnel_response_by_code',
      'cloudflared_orchestration_config_version',
      'build_info',
    ]) {
      expect(metrics.text).toMatch(new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
    }
    expect(metrics.text).toMatch(/^cloudflared_tunnel_ha_connections [1-4]$/m);
    const config = await httpJson(`${sim.metricsUrl}/config`, 'GET');
    expect(config.status).toBe(200);
    expect(config.body).toMatchObject({
      version: -1,
      config: {
        ingress: [
          { hostname: 'app.example.com', service: 'http://localhost:8080' },
          {
            hostname: 'api.example.com',
            path: '^/v1/',
            service: 'http://localhost:9090',
            originRequest: { connectTimeout: '10s' },
          },
          { service: 'http_status:404' },
        ],
      },
    });
    const state = await sim.state();
    expect(state).toMatchObject({ pid: sim.pid, tunnelId: TUNNEL_ID, configPath: path, gracePeriodMs: 30_000 });
    expect(state.configSha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await httpJson(`${sim.metricsUrl}/nope`, 'GET')).status).toBe(404);
  });

  it('writes --pidfile once the first connection is up', async () => {
    const config = writeConfig(VALID);
    const pidfile = join(config, '..', 'cf.pid');
    const sim = await start({ configPath: config, runArgs: [], env: { ...process.env, TUNNEL_PIDFILE: pidfile } });
    await sim.waitUntilReady();
    await waitFor('pidfile', async () => (existsSync(pidfile) ? true : undefined));
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(sim.pid));
  });
});

describe('simulated cloudflared: metrics port selection', () => {
  const held: Server[] = [];
  afterEach(async () => {
    await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const hold = (port: number) =>
    new Promise<Server | null>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(null));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
    });
  const portOf = (sim: SimProcess) => Number(new URL(sim.metricsUrl).port);

  it('for localhost:0 takes the first free port of 20241–20245', async (ctx) => {
    // Hold every free known port, then free the lowest: it is the one cloudflared must pick
    // (the lower ones are taken by someone else).
    const mine: Array<{ port: number; server: Server }> = [];
    for (const port of KNOWN_METRICS_PORTS) {
      const server = await hold(port);
      if (server) mine.push({ port, server });
    }
    const first = mine.shift();
    held.push(...mine.map((m) => m.server));
    if (!first) {
      console.info('[skip] all of 20241–20245 are taken by other processes on this machine');
      ctx.skip();
      return;
    }
    await new Promise((r) => first.server.close(r));
    const sim = await start({ configPath: writeConfig(VALID), metrics: 'localhost:0' });
    expect(portOf(sim)).toBe(first.port);
    expect(sim.metricsUrl).toBe(`http://127.0.0.1:${first.port}`);
  });

  it('for localhost:0 falls back to a random port when 20241–20245 are all taken', async () => {
    for (const port of KNOWN_METRICS_PORTS) {
      const server = await hold(port);
      if (server) held.push(server);
    }
    const sim = await start({ configPath: writeConfig(VALID), metrics: 'localhost:0' });
    expect(KNOWN_METRICS_PORTS).not.toContain(portOf(sim));
    expect(portOf(sim)).toBeGreaterThan(0);
  });

  it('binds an explicit address as given, and exits 1 when it is taken', async () => {
    const taken = await hold(0);
    if (!taken) throw new Error('cannot bind a port');
    held.push(taken);
    const port = (taken.address() as { port: number }).port;
    const result = await runSim(['tunnel', '--config', writeConfig(VALID), '--metrics', `127.0.0.1:${port}`, 'run']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`ERR failed to bind to address (127.0.0.1:${port})`);
    const sim = await start({ configPath: writeConfig(VALID), metrics: '127.0.0.1:0' });
    expect(KNOWN_METRICS_PORTS).not.toContain(portOf(sim));
  });
});

describe('simulated cloudflared: configuration checked on start', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      'a catch-all that is not last',
      `tunnel: ${TUNNEL_ID}\ningress:\n  - service: http_status:404\n  - hostname: a.example.com\n    service: http://localhost:1\n`,
      /ERR Couldn't start tunnel error="Rule #1 is matching the hostname '', but this will match every hostname/,
    ],
    [
      'a last rule with a hostname',
      `tunnel: ${TUNNEL_ID}\ningress:\n  - hostname: a.example.com\n    service: http://localhost:1\n`,
      /ERR Couldn't start tunnel error="The last ingress rule must match all URLs/,
    ],
    [
      'broken YAML',
      `tunnel: ${TUNNEL_ID}\ningress:\n  - service: [oops\n`,
      /^error parsing YAML in config file at .*config\.yml: yaml: line \d+: /m,
    ],
    [
      'a rule that is not a mapping',
      `tunnel: ${TUNNEL_ID}\ningress:\n  - http_status:404\n`,
      /yaml: unmarshal errors:\n {2}line 3: cannot unmarshal !!str into config\.UnvalidatedIngressRule/,
    ],
    [
      'a hostname that is a list',
      `tunnel: ${TUNNEL_ID}\ningress:\n  - hostname: [a, b]\n    service: http://x:1\n  - service: http_status:404\n`,
      /line 3: cannot unmarshal !!seq into string/,
    ],
    ['no tunnel named anywhere', 'ingress:\n  - service: http_status:404\n', /requires the ID or name of the tunnel/],
    [
      'a credentials file that does not exist',
      `tunnel: ${TUNNEL_ID}\ncredentials-file: /nonexistent/creds.json\ningress:\n  - service: http_status:404\n`,
      /Tunnel credentials file '\/nonexistent\/creds.json' doesn't exist/,
    ],
  ];
  it.each(cases)('exits 1 on %s, with a cloudflared-like message', async (_name, text, message) => {
    const result = await runSim(['tunnel', '--config', writeConfig(text), '--metrics', '127.0.0.1:0', 'run']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain('Starting metrics server');
  });

  it('exits 1 when the config file is missing, and on unknown flags or a bad grace period', async () => {
    const missing = await runSim(['tunnel', '--config', '/nonexistent/config.yml', 'run']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('open /nonexistent/config.yml: no such file or directory');
    const flag = await runSim(['tunnel', '--config', writeConfig(VALID), '--bogus', 'run']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain('Incorrect Usage: flag provided but not defined: -bogus');
    const grace = await runSim(['tunnel', '--config', writeConfig(VALID), '--grace-period', '10', 'run']);
    expect(grace.code).toBe(1);
    expect(grace.stderr).toContain('invalid value "10" for flag -grace-period');
  });

  it('runs with the default 503 rule when the file has no ingress, and takes the tunnel from the command line', async () => {
    const sim = await start({ configPath: writeConfig('loglevel: info\n'), runArgs: [TUNNEL_ID] });
    await sim.waitUntilReady();
    expect(sim.output()).toContain('No ingress rules were defined');
    const config = await httpJson(`${sim.metricsUrl}/config`, 'GET');
    expect((config.body as { config: { ingress: unknown } }).config.ingress).toEqual([{ service: 'http_status:503' }]);
    expect((await sim.state()).tunnelId).toBe(TUNNEL_ID);
  });

  it('`tunnel ingress validate` prints OK, or Validation failed and exits 1', async () => {
    const ok = await runSim(['tunnel', '--config', writeConfig(VALID), 'ingress', 'validate']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/Validating rules from .*\nOK\n$/);
    const bad = await runSim([
      'tunnel',
      '--config',
      writeConfig(`ingress:\n  - hostname: a.example.com\n    service: http://x:1\n`),
      'ingress',
      'validate',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Validation failed: The last ingress rule must match all URLs/m);
  });
});

describe('simulated cloudflared: signals', () => {
  it('shuts down gracefully on SIGTERM: /ready turns 503, then it exits 0', async () => {
    const sim = await start({ configPath: writeConfig(VALID), faults: 'drain=1500ms' });
    await sim.waitUntilReady();
    sim.kill('SIGTERM');
    const during = await waitFor('503 while draining', async () => {
      const r = await ready(sim);
      return r.status === 503 ? r : undefined;
    });
    expect(during.body).toMatchObject({ status: 503, readyConnections: 0 });
    expect(await sim.exited).toEqual({ code: 0, signal: null });
    expect(sim.output()).toContain('Initiating graceful shutdown due to signal terminated ...');
    expect(sim.output()).toContain('Metrics server stopped');
  });

  it('ends the drain when the grace period is over', async () => {
    // In-flight requests would take a minute; the 1 s grace period cuts them off.
    const sim = await start({ configPath: writeConfig(VALID), gracePeriod: '1s', faults: 'drain=60s' });
    await sim.waitUntilReady();
    sim.kill('SIGTERM');
    expect(await sim.exited).toEqual({ code: 0, signal: null });
  });

  it('a second signal ends it at once', async () => {
    const sim = await start({ configPath: writeConfig(VALID), gracePeriod: '60s', faults: 'drain=60s' });
    await sim.waitUntilReady();
    sim.kill('SIGTERM');
    await waitFor('shutting down', async () => ((await sim.state()).shuttingDown ? true : undefined));
    expect(sim.running).toBe(true);
    sim.kill('SIGINT');
    expect(await sim.exited).toEqual({ code: null, signal: 'SIGINT' });
  });

  it('has no SIGHUP reload: SIGHUP kills it', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    sim.kill('SIGHUP');
    expect(await sim.exited).toEqual({ code: null, signal: 'SIGHUP' });
  });
});

describe('simulated cloudflared: fault modes', () => {
  it('crash after N s, set at start: exits 2 with a panic', async () => {
    const sim = await start({ configPath: writeConfig(VALID), faults: 'crash-after=300ms' });
    expect((await sim.exited).code).toBe(2);
    expect(sim.output()).toContain('panic: simulated crash');
  });

  it('crash after N s, set at run time', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    expect((await sim.setFaults({ crashAfterMs: 100 })).faults.crashAfterMs).toBe(100);
    expect((await sim.exited).code).toBe(2);
  });

  it('hang: alive and /healthcheck 200, but /ready 503 until the fault is cleared', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    await sim.setFaults({ hang: true });
    for (let i = 0; i < 3; i++) {
      expect((await ready(sim)).body).toMatchObject({ status: 503, readyConnections: 0 });
    }
    expect((await httpJson(`${sim.metricsUrl}/healthcheck`, 'GET')).status).toBe(200);
    expect(sim.running).toBe(true);
    await sim.setFaults({ hang: false });
    expect((await ready(sim)).status).toBe(200);
  });

  it('hang set at start: the connections register, but /ready stays 503', async () => {
    const sim = await start({ configPath: writeConfig(VALID), faults: 'hang' });
    await waitFor('all four connections', async () =>
      sim.output().includes('Registered tunnel connection connIndex=3') ? true : undefined,
    );
    expect((await ready(sim)).body).toMatchObject({ status: 503, readyConnections: 0 });
    expect((await sim.state()).faults.hang).toBe(true);
  });

  it('stop answering HTTP: requests time out while the control endpoint still answers', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    await sim.setFaults({ noHttp: true });
    await expect(httpJson(`${sim.metricsUrl}/ready`, 'GET', undefined, 500)).rejects.toThrow(/timeout/);
    await expect(httpJson(`${sim.metricsUrl}/healthcheck`, 'GET', undefined, 500)).rejects.toThrow(/timeout/);
    expect(sim.running).toBe(true);
    expect((await sim.state()).faults.noHttp).toBe(true);
    await sim.setFaults({ reset: true });
    expect((await ready(sim)).status).toBe(200);
  });

  it('slow start at run time: the connections drop and come back after the delay', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    await sim.setFaults({ slowStartMs: 1000 });
    expect((await ready(sim)).status).toBe(503);
    await sim.waitUntilReady();
  });

  it('flapping: once up, /ready keeps going down and coming back', async () => {
    const sim = await start({ configPath: writeConfig(VALID), faults: 'flap=150ms' });
    await sim.waitUntilReady();
    const statusIs = (code: number) => async () => ((await ready(sim)).status === code ? true : undefined);
    for (let i = 0; i < 2; i++) {
      await waitFor('503 (down)', statusIs(503));
      await waitFor('200 (back)', statusIs(200));
    }
    expect(sim.output()).toContain('Connection terminated error="simulated flap"');
  });

  it('refuses a bad control request with 400 and changes nothing', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    const before = await sim.state();
    const bad = await httpJson(`${sim.metricsUrl}/sim/fault`, 'POST', { hang: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'hang must be a boolean' });
    const unknown = await httpJson(`${sim.metricsUrl}/sim/fault`, 'POST', { explode: true });
    expect(unknown.status).toBe(400);
    expect((await sim.state()).faults).toEqual(before.faults);
  });
});

const metricValue = async (sim: SimProcess, name: string) => {
  const text = (await httpJson(`${sim.metricsUrl}/metrics`, 'GET')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('simulated cloudflared: as strict as the binary', () => {
  it('exits 1 at once with "tunnel credentials file not found" when the config names none and none is found', async () => {
    const config = writeConfig(VALID, { credentials: false });
    const result = await runSim(['tunnel', '--config', config, '--metrics', '127.0.0.1:0', 'run'], cleanEnv());
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('tunnel credentials file not found');
    expect(result.stderr).not.toContain('Starting metrics server');
  });

  it('finds <tunnel id>.json beside the origin certificate when the config names no credentials file, as cloudflared searches', async () => {
    const config = writeConfig(VALID, { credentials: false });
    const dir = join(config, '..');
    writeTunnelCredentials(join(dir, `${TUNNEL_ID}.json`), TUNNEL_ID);
    const sim = await start({
      configPath: config,
      env: cleanEnv({ TUNNEL_ORIGIN_CERT: join(dir, 'cert.pem') }),
    });
    await sim.waitUntilReady();
    expect((await sim.state()).authorized).toBe(true);
  });

  it('refuses a credentials file that is not JSON, with cloudflared’s messages', async () => {
    const config = writeConfig(VALID, { credentials: false });
    const bad = join(config, '..', 'creds.json');
    writeFileSync(bad, 'not json');
    const result = await runSim(
      ['tunnel', '--config', config, '--credentials-file', bad, '--metrics', '127.0.0.1:0', 'run'],
      cleanEnv(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`ERR The credentials file at ${bad} contained invalid JSON`);
    expect(result.stderr).toMatch(/Invalid JSON when parsing tunnel credentials file\n$/);
  });

  it('never becomes ready when the credentials are another tunnel’s: the edge refuses them, forever', async () => {
    const other = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const sim = await start({
      configPath: writeConfig(VALID, { credentialsFor: other }),
      runArgs: ['--no-autoupdate'],
    });
    await waitFor('a refused registration', async () =>
      sim.output().includes('Unauthorized: Invalid tunnel secret') ? true : undefined,
    );
    await sleep(800);
    expect(sim.running).toBe(true);
    expect((await ready(sim)).body).toMatchObject({ status: 503, readyConnections: 0 });
    expect(sim.output()).toContain(
      'ERR Register tunnel error from server side error="Unauthorized: Invalid tunnel secret" connIndex=0',
    );
    expect(sim.output()).toMatch(/INF Retrying connection in up to \d+s connIndex=0/);
    expect(await metricValue(sim, 'cloudflared_tunnel_ha_connections')).toBe(1);
    expect(await sim.state()).toMatchObject({ authorized: false, tunnelId: TUNNEL_ID, readyConnections: 0 });
  });

  it('edge unreachable (fault, at start): never ready, one connection retried, /ready 503 with 0 connections', async () => {
    const sim = await start({ configPath: writeConfig(VALID), faults: 'edge-unreachable' });
    await waitFor('a failed dial', async () =>
      sim.output().includes('Failed to dial a quic connection') ? true : undefined,
    );
    await sleep(800);
    expect((await ready(sim)).body).toMatchObject({ status: 503, readyConnections: 0 });
    expect(await metricValue(sim, 'cloudflared_tunnel_ha_connections')).toBe(1);
    expect(sim.output()).not.toContain('Registered tunnel connection');
    // The network comes back: the connections register.
    await sim.setFaults({ edgeUnreachable: false });
    await sim.waitUntilReady();
    await waitFor('four connections', async () =>
      (await metricValue(sim, 'cloudflared_tunnel_ha_connections')) === 4 ? true : undefined,
    );
  });

  it('edge unreachable (fault, at run time): the connections drop and do not come back', async () => {
    const sim = await start({ configPath: writeConfig(VALID) });
    await sim.waitUntilReady();
    await sim.setFaults({ edgeUnreachable: true });
    await sleep(600);
    expect((await ready(sim)).body).toMatchObject({ status: 503, readyConnections: 0 });
    expect(sim.output()).toContain('Failed to dial a quic connection');
    expect((await sim.state()).faults.edgeUnreachable).toBe(true);
  });

  it('reports auto-update as cloudflared does when --no-autoupdate is not passed, and not when it is', async () => {
    const line = 'INF Autoupdate frequency is set autoupdateFreq=86400000';
    const on = await start({ configPath: writeConfig(VALID) });
    await on.waitUntilReady();
    expect(on.output()).toContain(line);
    expect((await on.state()).autoupdate).toEqual({ enabled: true, freqMs: 86_400_000 });
    for (const off of [
      { configPath: writeConfig(VALID), runArgs: ['--no-autoupdate'] },
      { configPath: writeConfig(VALID), env: { ...process.env, NO_AUTOUPDATE: 'true' } },
      { configPath: writeConfig(`no-autoupdate: true\n${VALID}`) },
    ]) {
      const sim = await start(off);
      await sim.waitUntilReady();
      expect(sim.output()).not.toContain('Autoupdate frequency');
      expect((await sim.state()).autoupdate.enabled).toBe(false);
    }
  });
});

describe('simulated cloudflared: argument parsing', () => {
  it('parses Go durations like cloudflared', () => {
    expect(parseGoDuration('30s')).toBe(30_000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['10', '', 's', '-1s', '1d', '1 s']) expect(parseGoDuration(bad)).toBeNull();
  });

  it('takes the real command shape, with flags before or after run', () => {
    const cmd = parseSimCommand(
      ['tunnel', '--config', '/etc/c.yml', '--metrics=127.0.0.1:20241', 'run', '--grace-period', '5s', 'my-tunnel'],
      {},
    );
    expect(cmd).toMatchObject({
      action: 'run',
      configPath: '/etc/c.yml',
      metrics: '127.0.0.1:20241',
      gracePeriodMs: 5000,
      tunnel: 'my-tunnel',
    });
    expect(parseSimCommand(['tunnel', 'run'], {})).toMatchObject({ metrics: 'localhost:0', gracePeriodMs: 30_000 });
    expect(() => parseSimCommand(['tunnel', 'delete', 'x'], {})).toThrow(SimUsageError);
    expect(() => parseSimCommand(['tunnel', '--metrics'], {})).toThrow(/needs an argument/);
  });

  it('reads faults from flags and CLOUDFLARED_SIM_FAULTS, and names a bad one', () => {
    const cmd = parseSimCommand(['tunnel', '--sim-hang', '--sim-crash-after', '2s', 'run'], {
      CLOUDFLARED_SIM_FAULTS: 'slow-start=1s,flap=500ms',
    });
    expect(cmd.faults).toEqual({ ...NO_FAULTS, hang: true, crashAfterMs: 2000, slowStartMs: 1000, flapMs: 500 });
    expect(parseFaultList('no-http,drain=3s')).toEqual({ ...NO_FAULTS, noHttp: true, drainMs: 3000 });
    expect(() => parseSimCommand(['tunnel', 'run'], { CLOUDFLARED_SIM_FAULTS: 'explode' })).toThrow(
      /unknown fault explode/,
    );
    expect(() => parseFaultList('crash-after=soon')).toThrow(/needs a duration/);
  });
});
