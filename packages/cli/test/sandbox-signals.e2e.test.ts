import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configKeys, loadConfig } from '@tunnel/core';
import { cloudflaredSimPath } from '@tunnel/testkit';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { describeSandboxCloudflared, renderSandboxConfig, sandboxPaths } from '../src/sandbox/sandbox.js';
import { cleanTempDirs, tempDir } from './support/io.js';
import { alive, cleanEnv, TUNNEL_BIN, waitFor } from './support/spawn.js';

afterEach(cleanTempDirs);

/** The env var that overrides `cloudflared.child.command` (its name comes from the config schema). */
const COMMAND_ENV = configKeys().find((k) => k.path.join('.') === 'cloudflared.child.command')?.env as string;

/** A cloudflared that is not the sandbox's simulator (here: the simulation under another path). */
function otherCloudflared(dir: string): string {
  const path = join(dir, 'cloudflared');
  writeFileSync(
    path,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(cloudflaredSimPath())} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('tunnel sandbox, found with a real cloudflared that never became ready', () => {
  it('SIGTERM during the start-up wait logs stopping/stopped and stops the cloudflared it started (stopOnExit)', async () => {
    const dataDir = tempDir('tm-sandbox-sig-');
    const command = otherCloudflared(tempDir('tm-bin-'));
    // `hang`: alive, but /ready answers 503 forever, like a cloudflared that cannot reach the edge.
    const env = cleanEnv({ [COMMAND_ENV]: command, CLOUDFLARED_SIM_FAULTS: 'hang' });
    const child = execa(process.execPath, [TUNNEL_BIN, 'sandbox', '--data-dir', dataDir], {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      all: true,
      // The clean shutdown includes cloudflared's grace period; no SIGKILL from execa after 5 s.
      forceKillAfterDelay: false,
    });
    let output = '';
    child.all?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const pidFile = join(dataDir, 'cloudflared.pid');
    // Both replicas started (the sandbox runs two), and the sandbox is still in its start-up wait.
    const pids = await waitFor(
      'cloudflared started by the sandbox',
      () => {
        if (!existsSync(pidFile)) return undefined;
        const replicas = (JSON.parse(readFileSync(pidFile, 'utf8')) as { replicas: Array<{ pid: number }> }).replicas;
        return replicas.length === 2 ? replicas.map((r) => r.pid) : undefined;
      },
      60_000,
    );
    expect(pids.every(alive)).toBe(true);
    expect(existsSync(join(dataDir, 'sandbox.json'))).toBe(false);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const result = await child;
    clearTimeout(timer);
    expect(result.signal ?? null, output).toBeNull();
    expect(result.exitCode, output).toBe(0);
    const log = readFileSync(join(dataDir, 'daemon.log'), 'utf8');
    expect(log).toContain('"daemon stopping"');
    expect(log).toContain('"daemon stopped"');
    expect(log).toContain('"sandbox stopped"');
    await waitFor('cloudflared to be gone', () => pids.every((pid) => !alive(pid)), 10_000);
    // Neither the terminal nor the log calls a real cloudflared "simulated".
    expect(output).not.toContain('simulated cloudflared');
    expect(log).not.toContain('simulated cloudflared');
  }, 120_000);

  it('names the simulator only when the command is the one the sandbox wrote', () => {
    const dir = tempDir('tm-sandbox-desc-');
    const paths = sandboxPaths(dir);
    writeFileSync(paths.apiToken, 'sandbox-token\n');
    writeFileSync(paths.config, renderSandboxConfig(paths, 'http://127.0.0.1:1/client/v4', 0));
    const own = loadConfig({ file: paths.config, env: {} });
    expect(describeSandboxCloudflared(own, paths)).toBe('simulated cloudflared');
    expect(own.cloudflared.child.replicas).toBe(2);
    const real = loadConfig({ file: paths.config, env: { [COMMAND_ENV]: '/usr/local/bin/cloudflared' } });
    expect(describeSandboxCloudflared(real, paths)).toBe('cloudflared (/usr/local/bin/cloudflared)');
  });
});
