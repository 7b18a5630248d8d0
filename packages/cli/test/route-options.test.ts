import { readFileSync } from 'node:fs';
import { matchIngressRule, parseConfigFile } from '@tunnel/core';
import type { CloudflareEmulator } from '@tunnel/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAMILY_EXIT_CODES } from '../src/index.js';
import { cleanTempDirs, runInProcess } from './support/io.js';
import { startCliWorld } from './support/world.js';

/*
 * `tunnel cname add/rm/ls` with paths, origin flags and wildcards, in this process, against the
 * Cloudflare emulator, a real SQLite database and a real config.yml.
 */

let cf: CloudflareEmulator;
let env: Record<string, string>;
let ingressPath: string;
let zoneId: string;

beforeEach(async () => {
  ({ cf, env, zoneId, ingressPath } = await startCliWorld());
});

afterEach(async () => {
  await cf.close();
  cleanTempDirs();
});

const json = <T>(stdout: string) => JSON.parse(stdout) as T;
const writes = () => cf.requests.filter((r) => r.method !== 'GET').length;
const records = (name: string) => cf.records(zoneId).filter((r) => r.name === name);
const rules = () => parseConfigFile(readFileSync(ingressPath, 'utf8')).rules;

describe('tunnel cname add --path / origin flags', () => {
  it('publishes two paths of one hostname on one record, most specific first, with origin settings', async () => {
    const root = await runInProcess(['cname', 'add', 'app.example.com', '-p', '3000', '--project', 'shop'], env);
    expect(root.code).toBe(0);
    const api = await runInProcess(
      [
        'cname',
        'add',
        'app.example.com',
        '--path',
        '^/api/',
        '-p',
        '8443',
        '--scheme',
        'https',
        '--no-tls-verify',
        '--origin-server-name',
        'api.internal',
        '--connect-timeout',
        '1m',
        '--project',
        'shop',
      ],
      env,
    );
    expect(api.code, api.stderr).toBe(0);
    expect(api.stdout).toMatch(/published https:\/\/app\.example\.com \(path \^\/api\/\) → https:\/\/localhost:8443/);
    expect(api.stdout).toMatch(/origin {2}noTLSVerify=true, originServerName=api\.internal, connectTimeout=60s/);
    expect(records('app.example.com')).toHaveLength(1);
    const text = readFileSync(ingressPath, 'utf8');
    expect(text).toMatch(/path: \^\/api\/\n\s+service: https:\/\/localhost:8443\n\s+originRequest:/);
    const all = rules();
    expect(matchIngressRule(all, 'https://app.example.com/api/users').rule).toMatchObject({
      service: 'https://localhost:8443',
      originRequest: { noTLSVerify: true, originServerName: 'api.internal', connectTimeout: '60s' },
    });
    expect(matchIngressRule(all, 'https://app.example.com/').rule.service).toBe('http://localhost:3000');

    const ls = await runInProcess(['cname', 'ls'], env);
    expect(ls.stdout).toMatch(/PATH/);
    expect(ls.stdout).toMatch(/app\.example\.com\s+\^\/api\/\s+shop/);

    // Another project cannot add a path to shop's name: exit 5, HOSTNAME_TAKEN, nothing written.
    const before = readFileSync(ingressPath, 'utf8');
    const dnsBefore = writes();
    const taken = await runInProcess(
      ['cname', 'add', 'app.example.com', '--path', '^/blog/', '-p', '4000', '--project', 'blog'],
      env,
    );
    expect(taken.code).toBe(FAMILY_EXIT_CODES.ownership);
    expect(taken.stderr).toMatch(/\[HOSTNAME_TAKEN\]/);
    expect(readFileSync(ingressPath, 'utf8')).toBe(before);
    expect(writes()).toBe(dnsBefore);
  });

  it('refuses a bad path or origin value with a clear INVALID_INPUT or POLICY_DENIED and changes nothing', async () => {
    const before = readFileSync(ingressPath, 'utf8');
    for (const args of [
      ['--path', '^/(?=x)'],
      ['--connect-timeout', '1.5s'],
      ['--http-host-header', 'bad host'],
      ['--ca-pool', '/etc/ssl/certs/ca.pem'],
    ]) {
      const run = await runInProcess(['cname', 'add', 'bad.example.com', '-p', '3000', ...args], env);
      expect(run.code, args.join(' ')).not.toBe(0);
      expect(run.stderr).toMatch(/\[(INVALID_INPUT|POLICY_DENIED)\]/);
      expect(run.stderr).not.toMatch(/repair|\{ *\w+: *true *\}/);
    }
    expect(readFileSync(ingressPath, 'utf8')).toBe(before);
    expect(writes()).toBe(0);
  });

  it('re-targets in place (one rule change, no DNS write), repeats as a no-op, and removes one path', async () => {
    await runInProcess(['cname', 'add', 'app.example.com', '-p', '3000'], env);
    await runInProcess(['cname', 'add', 'app.example.com', '--path', '^/api/', '-p', '3001'], env);
    const dns = writes();
    const moved = await runInProcess(
      ['cname', 'add', 'app.example.com', '--from-path', '^/api/', '--path', '^/v2/', '-p', '3002', '--json'],
      env,
    );
    expect(moved.code, moved.stderr).toBe(0);
    expect(json<{ outcome: string; route: { path: string } }>(moved.stdout)).toMatchObject({
      outcome: 'updated',
      route: { path: '^/v2/' },
    });
    expect(writes()).toBe(dns);
    expect(rules().map((r) => r.path ?? null)).toEqual(['^/v2/', null, null]);
    const bytes = readFileSync(ingressPath, 'utf8');
    const again = await runInProcess(
      ['cname', 'add', 'app.example.com', '--path', '^/v2/', '-p', '3002', '--json'],
      env,
    );
    expect(json<{ outcome: string }>(again.stdout).outcome).toBe('unchanged');
    expect(readFileSync(ingressPath, 'utf8')).toBe(bytes);

    const rm = await runInProcess(['cname', 'rm', 'app.example.com', '--path', '^/v2/'], env);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toMatch(/CNAME stays for the hostname's other paths/);
    expect(records('app.example.com')).toHaveLength(1);
    expect(rules().map((r) => r.path ?? null)).toEqual([null, null]);
    const last = await runInProcess(['cname', 'rm', 'app.example.com'], env);
    expect(last.stdout).toMatch(/its CNAME and ingress rule are gone/);
    expect(records('app.example.com')).toEqual([]);
  });

  it('publishes an admin wildcard after the exact names it covers', async () => {
    await runInProcess(['cname', 'add', 'a.team.example.com', '-p', '3001'], env);
    const wild = await runInProcess(['cname', 'add', '*.team.example.com', '-p', '3000'], env);
    expect(wild.code, wild.stderr).toBe(0);
    await runInProcess(['cname', 'add', 'b.team.example.com', '-p', '3002'], env);
    expect(records('*.team.example.com')).toHaveLength(1);
    expect(rules().map((r) => r.hostname ?? '(catch-all)')).toEqual([
      'a.team.example.com',
      'b.team.example.com',
      '*.team.example.com',
      '(catch-all)',
    ]);
  });
});
