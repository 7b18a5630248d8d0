import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Actor, ApiTokenService, type Logger, loadConfig, type TunnelConfig } from '@tunnel/core';
import {
  type CloudflareEmulator,
  cloudflaredSimPath,
  type EmulatorSeed,
  startCloudflareEmulator,
  writeTunnelCredentials,
} from '@tunnel/testkit';
import { Daemon } from '../daemon/daemon.js';

/** The emulated account, zones and tunnel every sandbox starts with. */
export const SANDBOX_ACCOUNT_ID = '5a7b1c9d3e2f40618a9b7c6d5e4f3a21';
export const SANDBOX_TUNNEL_ID = 'c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01';
export const SANDBOX_ZONES = ['example.com', 'example.org'] as const;

/** Where things are in a sandbox data directory. */
export function sandboxPaths(dataDir: string) {
  return {
    dataDir,
    config: join(dataDir, 'config.yml'),
    emulatorState: join(dataDir, 'cloudflare-emulator.json'),
    apiToken: join(dataDir, 'cloudflare-api-token'),
    cloudflaredConfig: join(dataDir, 'cloudflared', 'config.yml'),
    /** The tunnel's credentials, as `cloudflared tunnel create` writes them (`<tunnel id>.json`). */
    cloudflaredCredentials: join(dataDir, 'cloudflared', `${SANDBOX_TUNNEL_ID}.json`),
    cloudflaredCommand: join(dataDir, 'bin', 'cloudflared'),
    daemonLog: join(dataDir, 'daemon.log'),
    demoToken: join(dataDir, 'demo-mcp-token'),
    info: join(dataDir, 'sandbox.json'),
  };
}

/** The data directory to use: the given one (made absolute), or a new temporary one. */
export function sandboxDataDir(given?: string): string {
  return resolve(given ?? mkdtempSync(join(tmpdir(), 'tunnel-sandbox-')));
}

export interface SandboxStartOptions {
  /** Kept across runs when given (the emulated Cloudflare too). @default a new temporary directory */
  readonly dataDir?: string;
  /** Port of the daemon's HTTP endpoint (MCP, /metrics, /healthz). @default any free port */
  readonly port?: number;
  /** Port of the emulated Cloudflare API. @default any free port */
  readonly apiPort?: number;
  /** The daemon's logger. */
  readonly logger: Logger;
  /** The process environment (TM_* overrides apply to the sandbox's configuration too). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Aborted (SIGTERM, Ctrl-C) while starting: the wait for a healthy cloudflared ends at once
   * and the sandbox is returned as it is, for the caller to stop.
   */
  readonly signal?: AbortSignal;
}

/** What a running sandbox offers; also written to `<dataDir>/sandbox.json`. */
export interface SandboxInfo {
  readonly dataDir: string;
  readonly configPath: string;
  /** The emulated Cloudflare API (the SDK's base URL). */
  readonly apiUrl: string;
  /** The emulator's control API (`/__emulator/...`). */
  readonly emulatorOrigin: string;
  readonly httpOrigin: string;
  readonly metricsUrl: string;
  readonly healthzUrl: string;
  readonly mcpUrl: string | null;
  /** A bearer token for the project `demo` on the MCP endpoint, when the MCP server is available. */
  readonly demoToken: string | null;
  readonly zones: readonly string[];
  readonly tunnelId: string;
  /** `simulated cloudflared` when the command is the sandbox's simulator, else `cloudflared (<command>)`. */
  readonly cloudflared: string;
  readonly daemonLog: string;
  readonly pid: number;
}

export interface Sandbox {
  readonly info: SandboxInfo;
  readonly daemon: Daemon;
  readonly emulator: CloudflareEmulator;
  stop(): Promise<void>;
}

function sandboxSeed(token: string): EmulatorSeed {
  return {
    accounts: [{ id: SANDBOX_ACCOUNT_ID, name: 'Sandbox account' }],
    zones: SANDBOX_ZONES.map((name) => ({ name, accountId: SANDBOX_ACCOUNT_ID })),
    tunnels: [
      {
        id: SANDBOX_TUNNEL_ID,
        accountId: SANDBOX_ACCOUNT_ID,
        name: 'sandbox',
        configSrc: 'local',
        connectors: 1,
        status: 'healthy',
      },
    ],
    tokens: [{ value: token, name: 'sandbox', permissions: 'all' }],
  };
}

const q = (value: string) => JSON.stringify(value);

/** The tunnel-manager configuration of a sandbox (rewritten at every start: the API port may change). */
export function renderSandboxConfig(paths: ReturnType<typeof sandboxPaths>, apiUrl: string, port: number): string {
  return `# Tunnel Manager configuration written by \`tunnel sandbox\` (rewritten at each start).
# Everything points at the sandbox: an emulated Cloudflare API and a simulated cloudflared.
dataDir: ${q(paths.dataDir)}
cloudflare:
  apiTokenFile: ${q(paths.apiToken)}
  accountId: ${q(SANDBOX_ACCOUNT_ID)}
  tunnelId: ${q(SANDBOX_TUNNEL_ID)}
  baseUrl: ${q(apiUrl)}
  zoneRefreshIntervalMs: 60000
ingress:
  mode: local
  configPath: ${q(paths.cloudflaredConfig)}
cloudflared:
  controller: child
  gracePeriodMs: 2000
  child:
    command: ${q(paths.cloudflaredCommand)}
    # Two replicas rolled one at a time: a config change never takes the tunnel down.
    replicas: 2
    args: ["tunnel", "--config", ${q(paths.cloudflaredConfig)}, "--metrics", "127.0.0.1:0", "run"]
    # The sandbox's cloudflared is its own: it stops with the sandbox.
    stopOnExit: true
health:
  intervalMs: 5000
  readyTimeoutMs: 2000
restart:
  initialBackoffMs: 1000
  coalesceWindowMs: 300
  startTimeoutMs: 20000
docker:
  # Services are reached on the host (localhost:<port>); set true to target containers.
  enabled: false
policy:
  defaultDomain: ${q(SANDBOX_ZONES[0])}
reconcile:
  intervalMs: 60000
daemon:
  http:
    host: "127.0.0.1"
    port: ${port}
mcp:
  http:
    # The same host and port as daemon.http: one endpoint serves MCP, /metrics and /healthz.
    host: "127.0.0.1"
    port: ${port}
`;
}

/** Writes the files a fresh sandbox needs; keeps those a previous run left (its state, its cloudflared config). */
function prepareDataDir(paths: ReturnType<typeof sandboxPaths>): string {
  mkdirSync(join(paths.dataDir, 'cloudflared'), { recursive: true });
  mkdirSync(join(paths.dataDir, 'bin'), { recursive: true });
  let token: string;
  if (existsSync(paths.apiToken)) token = readFileSync(paths.apiToken, 'utf8').trim();
  else {
    token = `sandbox-${randomBytes(18).toString('base64url')}`;
    writeFileSync(paths.apiToken, `${token}\n`, { mode: 0o600 });
  }
  // What `cloudflared tunnel create` leaves: the credentials file, and a config naming it, so the
  // configuration is one the real binary would start with (the simulated one insists too).
  if (!existsSync(paths.cloudflaredCredentials)) {
    writeTunnelCredentials(paths.cloudflaredCredentials, SANDBOX_TUNNEL_ID, { accountTag: SANDBOX_ACCOUNT_ID });
  }
  const credentialsLine = `credentials-file: ${q(paths.cloudflaredCredentials)}`;
  if (!existsSync(paths.cloudflaredConfig)) {
    writeFileSync(
      paths.cloudflaredConfig,
      `# cloudflared configuration of the sandbox tunnel. Tunnel Manager adds and removes the rules it\n# owns (marked with a comment); anything else here is left as it is.\ntunnel: ${SANDBOX_TUNNEL_ID}\n${credentialsLine}\ningress:\n  - service: http_status:404\n`,
    );
  } else {
    // A sandbox from before credentials were written: name them after its `tunnel:` line.
    const text = readFileSync(paths.cloudflaredConfig, 'utf8');
    if (!/^credentials-file:/m.test(text) && /^tunnel:.*$/m.test(text)) {
      writeFileSync(
        paths.cloudflaredConfig,
        text.replace(/^tunnel:.*$/m, (line) => `${line}\n${credentialsLine}`),
      );
    }
  }
  // A `cloudflared` executable that runs the simulation, so the configuration reads like a real one.
  writeFileSync(
    paths.cloudflaredCommand,
    `#!/bin/sh\n# The simulated cloudflared of @tunnel/testkit, standing in for the real binary.\nexec ${q(process.execPath)} ${q(cloudflaredSimPath())} "$@"\n`,
  );
  chmodSync(paths.cloudflaredCommand, 0o755);
  return token;
}

/** The demo project's MCP bearer token: the one a previous run kept, while it still works; else a new one. */
async function demoProjectToken(daemon: Daemon, path: string): Promise<string> {
  const tokens = new ApiTokenService({ store: daemon.store, clock: daemon.clock });
  if (existsSync(path)) {
    const kept = readFileSync(path, 'utf8').trim();
    if ((await tokens.verify(kept))?.actor.kind === 'project') return kept;
  }
  const created = await tokens.create({ actor: Actor.project('demo'), label: 'tunnel sandbox demo' });
  writeFileSync(path, `${created.token}\n`, { mode: 0o600 });
  return created.token;
}

/**
 * What runs as cloudflared: the sandbox's own simulator only when the configured command is the
 * one it wrote (a TM_CLOUDFLARED__CHILD__COMMAND override may name a real binary).
 */
export function describeSandboxCloudflared(config: TunnelConfig, paths: ReturnType<typeof sandboxPaths>): string {
  if (config.cloudflared.controller !== 'child') return `cloudflared (controller: ${config.cloudflared.controller})`;
  const command = config.cloudflared.child.command;
  return command === paths.cloudflaredCommand ? 'simulated cloudflared' : `cloudflared (${command})`;
}

async function waitUntilHealthy(daemon: Daemon, timeoutMs: number, what: string, signal?: AbortSignal): Promise<void> {
  const monitor = daemon.health.monitor;
  if (!monitor) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (signal?.aborted) return;
    if ((await monitor.checkNow()).status === 'healthy') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 250);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  }
  if (!signal?.aborted) daemon.logger.warn(`the ${what} is not healthy yet; the sandbox starts anyway`);
}

/**
 * Starts the embedded sandbox: the Cloudflare API emulator (two zones and a tunnel, persisted
 * in the data directory), a configuration pointing at it with the simulated cloudflared as a
 * child of the daemon (`cloudflared.controller: child`), and the daemon itself, in this process.
 */
export async function startSandbox(options: SandboxStartOptions): Promise<Sandbox> {
  const dataDir = sandboxDataDir(options.dataDir);
  const paths = sandboxPaths(dataDir);
  const token = prepareDataDir(paths);
  const emulator = await startCloudflareEmulator({
    host: '127.0.0.1',
    port: options.apiPort ?? 0,
    statePath: paths.emulatorState,
    seed: sandboxSeed(token),
  });
  let daemon: Daemon;
  let config: TunnelConfig;
  try {
    writeFileSync(paths.config, renderSandboxConfig(paths, emulator.url, options.port ?? 0));
    config = loadConfig({ file: paths.config, env: options.env ?? {} });
    daemon = await Daemon.start({ config, logger: options.logger });
  } catch (error) {
    await emulator.close();
    throw error;
  }
  const cloudflared = describeSandboxCloudflared(config, paths);
  let demoToken: string | null;
  try {
    // Come up serving: wait (bounded) for the first healthy check of cloudflared.
    await waitUntilHealthy(daemon, 30_000, cloudflared, options.signal);
    demoToken = daemon.mcpUrl ? await demoProjectToken(daemon, paths.demoToken) : null;
  } catch (error) {
    // Every way out stops what was started.
    await daemon.stop().catch(() => undefined);
    await emulator.close().catch(() => undefined);
    throw error;
  }
  const origin = daemon.http.origin;
  const info: SandboxInfo = {
    dataDir,
    configPath: paths.config,
    apiUrl: emulator.url,
    emulatorOrigin: emulator.origin,
    httpOrigin: origin,
    metricsUrl: `${origin}/metrics`,
    healthzUrl: `${origin}/healthz`,
    mcpUrl: daemon.mcpUrl,
    demoToken,
    zones: emulator.data.zones.map((z) => z.name),
    tunnelId: SANDBOX_TUNNEL_ID,
    cloudflared,
    daemonLog: paths.daemonLog,
    pid: process.pid,
  };
  writeFileSync(paths.info, `${JSON.stringify(info, null, 2)}\n`);
  let stopping: Promise<void> | null = null;
  return {
    info,
    daemon,
    emulator,
    stop() {
      stopping ??= (async () => {
        try {
          await daemon.stop();
        } finally {
          rmSync(paths.info, { force: true });
          await emulator.close();
        }
      })();
      return stopping;
    },
  };
}
