import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { CLOUDFLARED_ENV } from '@tunnel/testkit';
import { describe, expect, it } from 'vitest';
import {
  configKeys,
  isTunnelError,
  loadConfig,
  mergeConfigInput,
  parseConfig,
  Secret,
  type TunnelConfigInput,
  type TunnelError,
} from '../src/index.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tm-config-'));

function configError(fn: () => unknown): TunnelError {
  try {
    fn();
  } catch (error) {
    expect(isTunnelError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as TunnelError).hint.length).toBeGreaterThan(0);
    return error as TunnelError;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('configuration', () => {
  it('fills every default and derives paths from dataDir', () => {
    const config = parseConfig({ dataDir: '/srv/tm' });
    expect(config.health).toEqual({ intervalMs: 30_000, readyTimeoutMs: 5_000, strikes: 3, retentionDays: 7 });
    expect(config.restart.initialBackoffMs).toBe(5_000);
    expect(config.restart.maxBackoffMs).toBe(300_000);
    expect(config.database.path).toBe('/srv/tm/state.db');
    expect(config.ingress.backupDir).toBe('/srv/tm/ingress-backups');
    expect(config.cloudflared.child.pidFile).toBe('/srv/tm/cloudflared.pid');
    expect(config.policy.quotaPerProject).toBe(20);
    expect(config.ingress.mode).toBe('local');
    expect(config.mcp.http).toEqual({ host: '127.0.0.1', port: 8787, enabled: true, path: '/mcp' });
  });

  it('names the bad key, the bad value and what is allowed', () => {
    const error = configError(() => parseConfig({ ingress: { mode: 'cloud' } }));
    expect(error.message).toContain('ingress.mode = "cloud"');
    expect(error.message).toContain('"local"|"remote"');
    const range = configError(() => parseConfig({ health: { strikes: 0 } }));
    expect(range.message).toMatch(/health\.strikes = 0: .*>=1/);
    const unknown = configError(() => parseConfig({ helth: {} }));
    expect(unknown.message).toContain('helth: unknown key');
  });

  it('reads YAML, applies TM_* env overrides over it, and says where a bad value came from', () => {
    const d = dir();
    const file = join(d, 'config.yml');
    writeFileSync(
      file,
      `# comment\ndataDir: ${d}\nhealth:\n  intervalMs: 10000\npolicy:\n  denyList: [a.example.com]\n`,
    );
    const config = loadConfig({
      file,
      env: {
        TM_HEALTH__STRIKES: '5',
        TM_DOCKER__ENABLED: 'false',
        TM_POLICY__DENY_LIST: 'x.example.com, y.example.com',
      },
    });
    expect(config.health.intervalMs).toBe(10_000);
    expect(config.health.strikes).toBe(5);
    expect(config.docker.enabled).toBe(false);
    expect(config.policy.denyList).toEqual(['x.example.com', 'y.example.com']);
    const bad = configError(() => loadConfig({ file, env: { TM_INGRESS__MODE: 'cloud' } }));
    expect(bad.message).toContain('(from env TM_INGRESS__MODE)');
    writeFileSync(file, 'health:\n  intervalMs: fast\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toContain(`(from file ${file})`);
  });

  it('refuses unknown TM_ variables and non-numbers, but ignores the reserved ones', () => {
    const unknown = configError(() => loadConfig({ env: { TM_HEALTH__INTERVALMS: '5' } }));
    expect(unknown.message).toBe('Unknown environment variable TM_HEALTH__INTERVALMS.');
    expect(unknown.hint).toMatch(/TM_<SECTION>__<KEY>/);
    expect(configError(() => loadConfig({ env: { TM_HEALTH__INTERVAL_MS: 'soon' } })).message).toContain(
      'TM_HEALTH__INTERVAL_MS',
    );
    expect(loadConfig({ env: { TUNNEL_PROJECT: 'alpha', TUNNEL_CONFIG: '' } }).health.strikes).toBe(3);
  });

  it("changes nothing for cloudflared's own TUNNEL_ variables (regression: TUNNEL_TOKEN stopped `tunnel status`)", () => {
    const d = dir();
    const file = join(d, 'config.yml');
    writeFileSync(file, `dataDir: ${d}\nhealth:\n  intervalMs: 10000\n`);
    const without = loadConfig({ file, env: {} });
    const withCloudflared = loadConfig({ file, env: { ...CLOUDFLARED_ENV } });
    expect(inspect(withCloudflared, { depth: 10 })).toBe(inspect(without, { depth: 10 }));
    // …nor when they sit beside our own variables.
    const both = loadConfig({ file, env: { ...CLOUDFLARED_ENV, TM_HEALTH__STRIKES: '7' } });
    expect(both.health.strikes).toBe(7);
    expect(both.ingress).toEqual(without.ingress);
    expect(both.cloudflared).toEqual(without.cloudflared);
  });

  it('refuses an old-form TUNNEL_<SECTION>__<KEY> variable, naming its new name', () => {
    const error = configError(() => loadConfig({ env: { TUNNEL_HEALTH__INTERVAL_MS: '10000' } }));
    expect(error.message).toContain('TUNNEL_HEALTH__INTERVAL_MS');
    expect(error.hint).toContain('TM_HEALTH__INTERVAL_MS');
    expect(configError(() => loadConfig({ env: { TUNNEL_DATA_DIR: '/tmp/x' } })).hint).toContain('TM_DATA_DIR');
    // A TUNNEL_ name that is not the old name of one of our keys is left alone.
    expect(loadConfig({ env: { TUNNEL_SOMETHING__ELSE: 'x' } }).health.strikes).toBe(3);
  });

  it('reports YAML syntax errors with line and column', () => {
    const file = join(dir(), 'bad.yml');
    writeFileSync(file, 'health:\n  intervalMs: [1, 2\n');
    const error = configError(() => loadConfig({ file, env: {} }));
    expect(error.message).toMatch(/line \d+, column \d+/);
    expect(error.details).toMatchObject({ file });
  });

  it('keeps the API token secret: from env or a file, never printed', () => {
    const d = dir();
    const tokenFile = join(d, 'token');
    writeFileSync(tokenFile, 'sekret-token-123\n');
    const fromFile = loadConfig({ env: {}, overrides: { cloudflare: { apiTokenFile: tokenFile } } });
    expect(fromFile.cloudflare.apiToken?.reveal()).toBe('sekret-token-123');
    const fromEnv = loadConfig({ env: { CLOUDFLARE_API_TOKEN: 'env-token-456' } });
    expect(fromEnv.cloudflare.apiToken?.reveal()).toBe('env-token-456');
    for (const text of [
      JSON.stringify(fromFile),
      inspect(fromFile, { depth: 10 }),
      String(fromFile.cloudflare.apiToken),
    ]) {
      expect(text).not.toContain('sekret-token-123');
    }
    const bad = configError(() => loadConfig({ env: { TM_CLOUDFLARE__API_TOKEN: 'has space secret' } }));
    expect(bad.message).toContain('[redacted]');
    expect(bad.message).not.toContain('has space secret');
  });

  it('lists every key with an env name (for docs and `tunnel init`)', () => {
    const keys = configKeys();
    expect(keys.find((k) => k.path.join('.') === 'cloudflare.apiToken')?.env).toBe('TM_CLOUDFLARE__API_TOKEN');
    expect(keys.find((k) => k.path.join('.') === 'dataDir')?.env).toBe('TM_DATA_DIR');
    expect(keys.length).toBeGreaterThan(40);
  });
});

describe('mergeConfigInput', () => {
  it('merges sections key by key, replaces arrays, scalars and secrets, and changes neither input', () => {
    const token = new Secret('cf-token-value');
    const base: TunnelConfigInput = {
      dataDir: '/var/lib/a',
      cloudflare: { apiToken: 'old', accountId: 'acc' },
      policy: { denyList: ['example.com', 'example.org'], quotaPerProject: 3 },
      restart: { waitForRestart: true },
    };
    const over: TunnelConfigInput = {
      // loadConfig lays env values over the file; a token may already be held in a Secret.
      cloudflare: { apiToken: token as unknown as string },
      policy: { denyList: ['example.net'] },
      restart: { startTimeoutMs: 5_000 },
    };
    const before = JSON.stringify([base, over]);
    const merged = mergeConfigInput(base, over);
    expect(merged.dataDir).toBe('/var/lib/a');
    expect(merged.cloudflare?.accountId).toBe('acc');
    expect(merged.cloudflare?.apiToken).toBe(token);
    expect(merged.policy).toEqual({ denyList: ['example.net'], quotaPerProject: 3 });
    expect(merged.restart).toEqual({ waitForRestart: true, startTimeoutMs: 5_000 });
    expect(JSON.stringify([base, over])).toBe(before);
    expect(mergeConfigInput(base)).toEqual(base);
  });
});
