import { formatOwnerMark } from '@tunnel/core';
import type { CloudflareEmulator } from '@tunnel/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAMILY_EXIT_CODES } from '../src/index.js';
import { cleanTempDirs, runInProcess } from './support/io.js';
import { startCliWorld } from './support/world.js';

/*
 * The instance identity at the CLI: `tunnel status` names the instance, `tunnel reconcile` lists
 * other instances' names under their own heading and plans nothing for them, `cname add --adopt
 * --from-instance` moves a name on purpose, and `cname rm --restore-replaced` puts back what an
 * adopt replaced.
 */

const SIBLING_TARGET = '0b0b0b0b-1111-4222-8333-444455556666.cfargotunnel.com';

let cf: CloudflareEmulator;
let env: Record<string, string>;
let zoneId: string;

beforeEach(async () => {
  ({ cf, env, zoneId } = await startCliWorld({ TM_INSTANCE__ID: 'vm-a' }));
});

afterEach(async () => {
  await cf.close();
  cleanTempDirs();
});

const names = (name: string) => cf.records(zoneId).filter((r) => r.name === name);

describe('the instance identity at the CLI', () => {
  it('tunnel status names the instance (text and --json)', async () => {
    const human = await runInProcess(['status'], env);
    expect(human.stdout).toMatch(/^instance {6}vm-a$/m);
    const json = JSON.parse((await runInProcess(['status', '--json'], env)).stdout) as { instance: string };
    expect(json.instance).toBe('vm-a');
    // Without instance.id: derived from the tunnel id.
    const { TM_INSTANCE__ID: _, ...derived } = env;
    expect(JSON.parse((await runInProcess(['status', '--json'], derived)).stdout).instance).toBe('c0ffee005a4d');
  });

  it('reconcile lists sibling names under their own heading and --apply leaves them; a request is refused naming the instance', async () => {
    cf.addRecord({
      zoneId,
      type: 'CNAME',
      name: 'sibling.example.com',
      content: SIBLING_TARGET,
      proxied: true,
      comment: formatOwnerMark('shop', 'vm-b'),
    });
    // The scenario of the issue: a legacy mark on another tunnel's record is a sibling's too.
    cf.addRecord({
      zoneId,
      type: 'CNAME',
      name: 'old-sibling.example.com',
      content: SIBLING_TARGET,
      proxied: true,
      comment: formatOwnerMark('shop', null),
    });
    const before = cf.records(zoneId);
    const plan = await runInProcess(['reconcile'], env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/in sync/);
    expect(plan.stdout).toMatch(/2 names on this zone are published by other instances/);
    expect(plan.stdout).toMatch(/sibling\.example\.com .* instance "vm-b" for shop/);
    const applied = await runInProcess(['reconcile', '--apply'], env);
    expect(applied.code).toBe(0);
    expect(cf.records(zoneId)).toEqual(before);

    const refused = await runInProcess(['cname', 'add', 'sibling.example.com', '-p', '80', '--project', 'demo'], env);
    expect(refused.code).toBe(FAMILY_EXIT_CODES.ownership);
    expect(refused.stderr).toMatch(/\[HOSTNAME_TAKEN\]/);
    expect(refused.stderr).toMatch(/instance "vm-b"/);
    expect(refused.stderr).toMatch(/--from-instance vm-b/);
    expect(cf.records(zoneId)).toEqual(before);

    const moved = await runInProcess(
      ['cname', 'add', 'sibling.example.com', '-p', '80', '--adopt', '--from-instance', 'vm-b'],
      env,
    );
    expect(moved.code, moved.stderr).toBe(0);
    expect(names('sibling.example.com').map((r) => r.comment)).toEqual([formatOwnerMark('@admin', 'vm-a')]);

    // Deleting it with --restore-replaced hands the name back as it was.
    const removed = await runInProcess(['cname', 'rm', 'sibling.example.com', '--restore-replaced'], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/restored CNAME sibling\.example\.com 0b0b0b0b/);
    expect(names('sibling.example.com').map((r) => [r.content, r.comment])).toEqual([
      [SIBLING_TARGET, formatOwnerMark('shop', 'vm-b')],
    ]);
  });
});
