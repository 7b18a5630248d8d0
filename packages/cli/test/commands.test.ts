import { readFileSync } from 'node:fs';
import { formatOwnerMark } from '@tunnel/core';
import type { CloudflareEmulator } from '@tunnel/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAMILY_EXIT_CODES } from '../src/index.js';
import { cleanTempDirs, runInProcess } from './support/io.js';
import { ACCOUNT, startCliWorld, TUNNEL_ID } from './support/world.js';

/*
 * The manager-backed commands in this process, against the Cloudflare emulator, a real SQLite
 * database and a real config.yml: no daemon runs, so restarts are only queued
 * (`restart.waitForRestart: false`) and nothing supervises cloudflared (`controller: none`).
 */

let cf: CloudflareEmulator;
let env: Record<string, string>;
let ingressPath: string;
let zoneId: string;

beforeEach(async () => {
  ({ cf, env, zoneId, ingressPath } = await startCliWorld({
    TM_RECONCILE__DELETE_THRESHOLD_MIN: '1',
    TM_RECONCILE__DELETE_THRESHOLD_PERCENT: '0',
  }));
});

afterEach(async () => {
  await cf.close();
  cleanTempDirs();
});

const json = <T>(stdout: string) => JSON.parse(stdout) as T;
const writes = () => cf.requests.filter((r) => r.method !== 'GET').length;

describe('tunnel status before any daemon has run', () => {
  it('says the state is unknown and why, from the database alone', async () => {
    cf.clearRequests();
    const { code, stdout } = await runInProcess(['status', '--json'], env);
    expect(code).toBe(0);
    expect(json<{ tunnel: { status: string; detail: string } }>(stdout).tunnel).toMatchObject({
      status: 'unknown',
      detail: expect.stringMatching(/daemon/),
    });
    expect(cf.requests).toEqual([]);
    const human = await runInProcess(['status'], env);
    expect(human.stdout).toMatch(/^tunnel {8}unknown/m);
  });
});

describe('tunnel cname add --dry-run', () => {
  it('prints the plan and changes nothing: no DNS write, the same ingress bytes, no route', async () => {
    const before = readFileSync(ingressPath, 'utf8');
    const { code, stdout } = await runInProcess(['cname', 'add', 'app.example.com', '-p', '8080', '--dry-run'], env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Plan for app\.example\.com \(nothing was changed\):\n {2}- reserve app\.example\.com/);
    expect(writes()).toBe(0);
    expect(readFileSync(ingressPath, 'utf8')).toBe(before);
    expect(json<{ routes: unknown[] }>((await runInProcess(['cname', 'ls', '--json'], env)).stdout).routes).toEqual([]);
  });
});

describe('tunnel cname add | ls | rm as the operator for a project', () => {
  it('creates a project route, filters it by project and state, queues the restart, and removes it', async () => {
    const added = await runInProcess(['cname', 'add', 'shop.example.com', '-p', '3000', '--project', 'shop'], env);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/✓ published https:\/\/shop\.example\.com → http:\/\/localhost:3000/);
    expect(added.stdout).toMatch(/has not been restarted yet/);
    const mine = await runInProcess(['cname', 'ls', '--json', '--project', 'shop', '--state', 'active'], env);
    expect(json<{ routes: Array<{ owner: string }> }>(mine.stdout).routes.map((r) => r.owner)).toEqual(['shop']);
    const none = await runInProcess(['cname', 'ls', '--json', '--state', 'failed'], env);
    expect(json<{ routes: unknown[] }>(none.stdout).routes).toEqual([]);
    const status = await runInProcess(['status', '--json'], env);
    expect(json<{ restartPending: boolean; routes: { active: number } }>(status.stdout)).toMatchObject({
      restartPending: true,
      routes: { active: 1 },
    });
    const removed = await runInProcess(['cname', 'rm', 'shop.example.com', '--json'], env);
    expect(removed.code).toBe(0);
    expect(json<{ route: { state: string } }>(removed.stdout).route.state).toBe('deleted');
    expect(cf.records(zoneId).filter((r) => r.name === 'shop.example.com')).toEqual([]);
  });

  it('refuses a name held by a record it did not create (exit 5, RECORD_CONFLICT with the holder), and leaves it', async () => {
    cf.addRecord({ zoneId, type: 'A', name: 'taken.example.com', content: '192.0.2.1' });
    const { code, stderr } = await runInProcess(['cname', 'add', 'taken.example.com', '-p', '80'], env);
    expect(code).toBe(FAMILY_EXIT_CODES.conflict);
    expect(stderr).toMatch(/\[RECORD_CONFLICT\]/);
    expect(
      cf
        .records(zoneId)
        .filter((r) => r.name === 'taken.example.com')
        .map((r) => r.content),
    ).toEqual(['192.0.2.1']);
  });
});

describe('tunnel domains ls', () => {
  it('lists the zones with their usability; --refresh asks Cloudflare again', async () => {
    const { code, stdout } = await runInProcess(['domains', 'ls', '--json'], env);
    expect(code).toBe(0);
    expect(json<{ domains: Array<{ name: string; usable: boolean }> }>(stdout).domains).toEqual([
      expect.objectContaining({ name: 'example.com', usable: true }),
    ]);
    cf.addZone({ name: 'example.net', accountId: ACCOUNT });
    const cached = await runInProcess(['domains', 'ls', '--json'], env);
    expect(json<{ domains: unknown[] }>(cached.stdout).domains).toHaveLength(1);
    const refreshed = await runInProcess(['domains', 'ls', '--json', '--refresh'], env);
    expect(json<{ domains: Array<{ name: string }> }>(refreshed.stdout).domains.map((d) => d.name)).toEqual([
      'example.com',
      'example.net',
    ]);
  });
});

describe('tunnel reconcile', () => {
  function plantOrphans(n: number): void {
    for (let i = 0; i < n; i++) {
      cf.addRecord({
        zoneId,
        type: 'CNAME',
        name: `orphan-${i}.example.com`,
        content: `${TUNNEL_ID}.cfargotunnel.com`,
        proxied: true,
        comment: formatOwnerMark('gone', null),
      });
    }
  }

  it('refuses to apply a plan that deletes more than the threshold (exit 4, hint --force) and deletes nothing', async () => {
    plantOrphans(3);
    const plan = await runInProcess(['reconcile'], env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/3 changes would bring/);
    expect(plan.stdout).toMatch(/applying needs --force/);
    cf.clearRequests();
    const refused = await runInProcess(['reconcile', '--apply'], env);
    expect(refused.code).toBe(FAMILY_EXIT_CODES.ownership);
    expect(refused.stderr).toMatch(/\[POLICY_DENIED\]/);
    expect(refused.stderr).toMatch(/hint: .*--force/);
    expect(writes()).toBe(0);
    expect(cf.records(zoneId).filter((r) => r.name.startsWith('orphan-'))).toHaveLength(3);
  });

  it('with --force applies it; records without the mark are never touched', async () => {
    plantOrphans(2);
    cf.addRecord({ zoneId, type: 'CNAME', name: 'theirs.example.com', content: 'elsewhere.example.net' });
    const applied = await runInProcess(['reconcile', '--apply', '--force', '--json'], env);
    expect(applied.code).toBe(0);
    const result = json<{ applied: { applied: Array<{ kind: string }>; failed: unknown[] } }>(applied.stdout).applied;
    expect(result.applied.map((c) => c.kind)).toEqual(['delete_dns', 'delete_dns']);
    expect(result.failed).toEqual([]);
    expect(cf.records(zoneId).map((r) => r.name)).toEqual(['theirs.example.com']);
  });
});

describe('tunnel audit', () => {
  it('filters by action, project and --since; newest first', async () => {
    await runInProcess(['cname', 'add', 'a.example.com', '-p', '1', '--project', 'alpha'], env);
    await runInProcess(['cname', 'add', 'b.example.com', '-p', '2', '--project', 'beta'], env);
    await runInProcess(['cname', 'add', 'bad_name.example.com', '-p', '2'], env);
    const all = json<{ entries: Array<{ action: string; target: string; outcome: string }> }>(
      (await runInProcess(['audit', '--json', '--action', 'cname.request'], env)).stdout,
    ).entries;
    expect(all.map((e) => [e.target, e.outcome])).toEqual([
      ['bad_name.example.com', 'error'],
      ['b.example.com', 'ok'],
      ['a.example.com', 'ok'],
    ]);
    const beta = json<{ entries: Array<{ target: string }> }>(
      (await runInProcess(['audit', '--json', '--project', 'beta'], env)).stdout,
    ).entries;
    expect(beta.map((e) => e.target)).toEqual(['b.example.com']);
    const future = json<{ entries: unknown[] }>(
      (await runInProcess(['audit', '--json', '--since', '2999-01-01'], env)).stdout,
    ).entries;
    expect(future).toEqual([]);
    const human = await runInProcess(['audit', '--limit', '1'], env);
    expect(human.stdout.trim().split('\n')).toHaveLength(2);
    expect(human.stdout).toMatch(/INVALID_HOSTNAME/);
  });
});
