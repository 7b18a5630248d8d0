import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveInstanceId, parseConfigFile } from '@tunnel/core';
import {
  CLOUDFLARED_ENV,
  type CloudflareEmulator,
  startCloudflareEmulator,
  writeTunnelCredentials,
} from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../src/index.js';
import { cleanTempDirs, tempDir } from './support/io.js';
import { cleanEnv, tunnel } from './support/spawn.js';
import { managerEnv } from './support/world.js';

/*
 * First runs, through the built `tunnel` executable: the state cloudflared starts from is the
 * state the manager takes its first route from. A config.yml as `cloudflared tunnel create`
 * leaves it (only `tunnel:` and `credentials-file:`), and a remotely-managed tunnel with no
 * configuration yet (version 0): each takes a first `cname add` (the list is created with the
 * rule and a catch-all) and a last `cname rm` (the catch-all stays). Every run has cloudflared's
 * own TUNNEL_* variables in its environment: they must change nothing.
 */

const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const ACCOUNT = '5a7b1c9d3e2f40618a9b7c6d5e4f3a21';
const TOKEN = 'first-run-token';

let cf: CloudflareEmulator | null = null;
afterEach(async () => {
  await cf?.close();
  cf = null;
  cleanTempDirs();
});

async function world(mode: 'local' | 'remote') {
  cf = await startCloudflareEmulator({
    seed: {
      accounts: [{ id: ACCOUNT, name: 'a' }],
      zones: [{ name: 'example.com', accountId: ACCOUNT }],
      tunnels: [
        { id: TUNNEL_ID, accountId: ACCOUNT, configSrc: mode === 'local' ? 'local' : 'cloudflare', connectors: 1 },
      ],
      tokens: [{ value: TOKEN, permissions: 'all' }],
    },
  });
  const dir = tempDir('tm-first-run-');
  const credentials = join(dir, `${TUNNEL_ID}.json`);
  writeTunnelCredentials(credentials, TUNNEL_ID, { accountTag: ACCOUNT });
  const ingressPath = join(dir, 'config.yml');
  const bare = `# cloudflared tunnel create vm  (then edited by hand)\ntunnel: ${TUNNEL_ID}\ncredentials-file: ${credentials}   # keep this secret\n`;
  writeFileSync(ingressPath, bare);
  const env = cleanEnv({
    // cloudflared's own variables, as on a VM that runs it: none of them is the manager's.
    ...CLOUDFLARED_ENV,
    ...managerEnv({ dir, ingressPath, apiUrl: cf.url, tunnelId: TUNNEL_ID, account: ACCOUNT, token: TOKEN }),
    TM_INGRESS__MODE: mode,
  });
  return { cf, dir, env, ingressPath, bare };
}

const json = <T>(stdout: string) => JSON.parse(stdout) as T;

async function ok(args: string[], env: Record<string, string>) {
  const run = await tunnel(args, env);
  expect(run.stderr, `tunnel ${args.join(' ')}`).toBe('');
  expect(run.exitCode, `tunnel ${args.join(' ')}: ${run.stdout}`).toBe(0);
  return run;
}

async function ingressCheck(env: Record<string, string>): Promise<DoctorCheck> {
  const run = await tunnel(['doctor', '--json'], env);
  const checks = json<{ checks: DoctorCheck[] }>(run.stdout).checks;
  return checks.find((c) => c.id === 'ingress') as DoctorCheck;
}

describe('first run on a local config.yml with only tunnel: and credentials-file:', () => {
  it('a first add creates the list with the rule and a catch-all, keeping every key and comment; a last delete leaves the catch-all', async () => {
    const w = await world('local');
    const before = await ingressCheck(w.env);
    expect(before.status).toBe('ok');
    expect(before.detail).toMatch(/^no ingress yet: /);

    const added = await ok(['cname', 'add', 'app.example.com', '--port', '8080', '--json'], w.env);
    expect(json<{ route: { state: string } }>(added.stdout).route.state).toBe('active');
    const afterAdd = readFileSync(w.ingressPath, 'utf8');
    expect(afterAdd.startsWith(w.bare)).toBe(true);
    const parsed = parseConfigFile(afterAdd);
    expect(parsed.errors).toEqual([]);
    expect(parsed.rules).toEqual([
      {
        hostname: 'app.example.com',
        service: 'http://localhost:8080',
        managed: { owner: '@admin', instance: deriveInstanceId(TUNNEL_ID) },
      },
      { service: 'http_status:404' },
    ]);
    expect((await ingressCheck(w.env)).detail).toMatch(/^valid: .*2 rules/);

    // The creation of the list is audited, beside the request itself.
    const audit = await ok(['audit', '--json', '--action', 'ingress.list_created'], w.env);
    const entries = json<{ entries: Array<{ action: string; target: string; outcome: string }> }>(audit.stdout).entries;
    expect(entries).toEqual([
      expect.objectContaining({ action: 'ingress.list_created', target: 'app.example.com', outcome: 'ok' }),
    ]);

    await ok(['cname', 'rm', 'app.example.com', '--json'], w.env);
    const afterRm = readFileSync(w.ingressPath, 'utf8');
    expect(afterRm.startsWith(w.bare)).toBe(true);
    expect(parseConfigFile(afterRm).rules).toEqual([{ service: 'http_status:404' }]);
    expect(parseConfigFile(afterRm).errors).toEqual([]);
    const zone = w.cf.data.zones[0]?.id as string;
    expect(w.cf.records(zone).filter((r) => r.name === 'app.example.com')).toEqual([]);
  });

  it('an invalid file is refused with a hint that names no library option', async () => {
    const w = await world('local');
    writeFileSync(w.ingressPath, `${w.bare}ingress:\n  - hostname: a.example.com\n    service: http://localhost:1\n`);
    const run = await tunnel(['cname', 'add', 'app.example.com', '--port', '8080'], w.env);
    expect(run.exitCode).toBe(5);
    expect(run.stderr).toContain('[INGRESS_INVALID]');
    expect(run.stderr).not.toMatch(/repair|\{ ?\w+: /);
    expect((await ingressCheck(w.env)).detail).toMatch(/^invalid: /);
  });
});

describe('first run on a remotely-managed tunnel with no configuration yet (version 0)', () => {
  it('a first add creates the configuration with the rule and a catch-all; a last delete leaves the catch-all', async () => {
    const w = await world('remote');
    const remote = () =>
      w.cf.data.tunnels.find((t) => t.id === TUNNEL_ID) as { config: unknown; config_version: number };
    expect(remote().config).toBeNull();
    expect(remote().config_version).toBe(0);
    expect((await ingressCheck(w.env)).detail).toMatch(/^no ingress yet: .*version 0/);

    await ok(['cname', 'add', 'app.example.com', '--port', '8080', '--json'], w.env);
    expect(remote().config).toMatchObject({
      ingress: [{ hostname: 'app.example.com', service: 'http://localhost:8080' }, { service: 'http_status:404' }],
    });
    const audit = await ok(['audit', '--json', '--action', 'ingress.list_created'], w.env);
    expect(json<{ entries: unknown[] }>(audit.stdout).entries).toHaveLength(1);

    await ok(['cname', 'rm', 'app.example.com', '--json'], w.env);
    expect(remote().config).toMatchObject({ ingress: [{ service: 'http_status:404' }] });
    expect((remote().config as { ingress: unknown[] }).ingress).toHaveLength(1);
    expect((await ingressCheck(w.env)).detail).toMatch(/^valid: .*1 rules/);
    // The local file was never the source: untouched.
    expect(readFileSync(w.ingressPath, 'utf8')).toBe(w.bare);
  });
});

describe("cloudflared's environment", () => {
  it('TUNNEL_TOKEN and the rest change nothing: `tunnel status` runs (it used to exit 7, CONFIG_INVALID)', async () => {
    const w = await world('local');
    const withThem = await ok(['status', '--json'], w.env);
    const withoutThem = await ok(
      ['status', '--json'],
      Object.fromEntries(Object.entries(w.env).filter(([k]) => !(k in CLOUDFLARED_ENV))),
    );
    const strip = (text: string) => {
      const report = json<Record<string, unknown>>(text);
      delete report.generatedAt;
      return report;
    };
    expect(strip(withThem.stdout)).toEqual(strip(withoutThem.stdout));
    // Our own prefix is still checked.
    const typo = await tunnel(['status'], { ...w.env, TM_HEALTH__INTERVALMS: '5' });
    expect(typo.exitCode).toBe(7);
    expect(typo.stderr).toContain('Unknown environment variable TM_HEALTH__INTERVALMS');
  });
});
