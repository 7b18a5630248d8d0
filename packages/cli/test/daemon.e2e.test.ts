import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cloudflaredSimPath, writeTunnelCredentials } from '@tunnel/testkit';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { FAMILY_EXIT_CODES } from '../src/index.js';
import { cleanTempDirs, tempDir } from './support/io.js';
import { alive, cleanEnv, httpGet, TUNNEL_BIN, tunnel, waitFor } from './support/spawn.js';

/*
 * `tunnel daemon` as systemd runs it: JSON logs on stdout, one daemon per data directory, a
 * clean shutdown on SIGTERM that leaves a supervised cloudflared running (cloudflared.child.
 * stopOnExit is false by default) for the next daemon to adopt.
 */

const TUNNEL_ID = 'c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01';
const started: ResultPromise[] = [];
const strays: number[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) {
    child.kill('SIGKILL');
    await child.catch(() => undefined);
  }
  for (const pid of strays.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  cleanTempDirs();
});

function writeConfig(dir: string): string {
  const cloudflared = join(dir, 'cloudflared.yml');
  const credentials = join(dir, `${TUNNEL_ID}.json`);
  writeTunnelCredentials(credentials, TUNNEL_ID);
  writeFileSync(
    cloudflared,
    `tunnel: ${TUNNEL_ID}\ncredentials-file: ${credentials}\ningress:\n  - service: http_status:404\n`,
  );
  const config = join(dir, 'tunnel-manager.yml');
  writeFileSync(
    config,
    `dataDir: ${JSON.stringify(dir)}
ingress:
  configPath: ${JSON.stringify(cloudflared)}
cloudflared:
  controller: child
  gracePeriodMs: 2000
  child:
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(cloudflaredSimPath())}, "tunnel", "--config", ${JSON.stringify(cloudflared)}, "--metrics", "127.0.0.1:0", "run"]
health:
  intervalMs: 2000
docker:
  enabled: false
daemon:
  http:
    port: 0
`,
  );
  return config;
}

interface Daemon {
  readonly child: ResultPromise;
  readonly lines: Array<Record<string, unknown>>;
  readonly origin: string;
}

async function startDaemon(config: string): Promise<Daemon> {
  const child = execa(process.execPath, [TUNNEL_BIN, 'daemon', '--config', config], {
    env: cleanEnv(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  started.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      lines.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
  });
  const origin = await waitFor('the daemon to start', () => {
    if (child.exitCode !== null) throw new Error(`the daemon exited: ${JSON.stringify(lines)}`);
    return lines.find((l) => l.msg === 'daemon started')?.http as string | undefined;
  });
  return { child, lines, origin };
}

const pidFileOf = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'cloudflared.pid'), 'utf8')) as { replicas: Array<{ pid: number }> }).replicas;

describe('tunnel daemon', () => {
  it('logs JSON lines, refuses a second daemon on the same data directory, and on SIGTERM leaves cloudflared for the next one', async () => {
    const dir = tempDir('tm-daemon-');
    const config = writeConfig(dir);
    const first = await startDaemon(config);
    strays.push(...pidFileOf(dir).map((r) => r.pid));
    await waitFor('a healthy check', async () => {
      const body = JSON.parse((await httpGet(`${first.origin}/healthz`)).body) as { tunnel: { status: string } };
      return body.tunnel.status === 'healthy';
    });
    // Read once it serves (a slow start on a loaded machine may have been restarted once).
    // Two replicas by default.
    const pids = pidFileOf(dir).map((r) => r.pid);
    expect(pids).toHaveLength(2);
    strays.push(...pids);
    expect(pids.every(alive)).toBe(true);
    for (const line of first.lines) {
      expect(typeof line.time).toBe('string');
      expect(['debug', 'info', 'warn', 'error']).toContain(line.level);
    }

    const second = await tunnel(['daemon', '--config', config], cleanEnv());
    expect(second.exitCode).toBe(FAMILY_EXIT_CODES.conflict);
    expect(second.stderr.trim().split('\n')[0]).toMatch(
      /Another tunnel-manager daemon already runs .*\[LOCK_TIMEOUT\]/,
    );
    expect(pidFileOf(dir).map((r) => r.pid)).toEqual(pids);

    first.child.kill('SIGTERM');
    const exit = await first.child;
    expect(exit.exitCode).toBe(0);
    expect(first.lines.at(-1)?.msg).toBe('daemon stopped');
    expect(pids.every(alive)).toBe(true);

    const next = await startDaemon(config);
    for (const pid of pids) {
      expect(next.lines.some((l) => l.msg === 'adopting running cloudflared' && l.pid === pid)).toBe(true);
    }
    expect(pidFileOf(dir).map((r) => r.pid)).toEqual(pids);
    next.child.kill('SIGTERM');
    expect((await next.child).exitCode).toBe(0);
  });
});
