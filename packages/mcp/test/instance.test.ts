import { Actor, formatOwnerMark } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Connected,
  callError,
  callOk,
  connectStdio,
  recordsNamed,
  startWorld,
  type World,
} from './support/world.js';

/*
 * The instance identity over MCP (a real SDK client, the built stdio server): tunnel_get_status
 * names the instance; the admin path of tunnel_request_cname takes a sibling's name only with
 * `fromInstance`; the admin path of tunnel_delete_cname restores what an adopt replaced.
 */

const open: Array<Connected | World> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

const SIBLING_TARGET = '0b0b0b0b-1111-4222-8333-444455556666.cfargotunnel.com';

describe('instance identity over MCP', () => {
  it('status names the instance; adopt from a sibling needs fromInstance; delete restores what adopt replaced', async () => {
    const world = await startWorld({ config: { instance: { id: 'vm-a' } } });
    open.push(world);
    world.cf.addRecord({
      zone: 'example.com',
      type: 'CNAME',
      name: 'sibling.example.com',
      content: SIBLING_TARGET,
      proxied: true,
      comment: formatOwnerMark('shop', 'vm-b'),
    });
    const admin = await connectStdio(world, Actor.admin());
    open.push(admin);
    const shop = await connectStdio(world, Actor.project('shop'));
    open.push(shop);

    expect((await callOk(shop.client, 'tunnel_get_status')).structured.instance).toBe('vm-a');

    const taken = await callError(shop.client, 'tunnel_request_cname', { hostname: 'sibling.example.com', port: 3000 });
    expect(taken.code).toBe('HOSTNAME_TAKEN');
    expect(taken.message).toContain('instance "vm-b"');
    const noFrom = await callError(admin.client, 'tunnel_request_cname', {
      hostname: 'sibling.example.com',
      port: 3000,
      adopt: true,
    });
    expect(noFrom.code).toBe('HOSTNAME_TAKEN');
    expect(noFrom.hint).toContain('--from-instance vm-b');

    const moved = await callOk(admin.client, 'tunnel_request_cname', {
      hostname: 'sibling.example.com',
      port: 3000,
      adopt: true,
      fromInstance: 'vm-b',
    });
    expect(moved.structured.outcome).toBe('created');
    expect(recordsNamed(world, 'sibling.example.com').map((r) => r.comment)).toEqual([
      formatOwnerMark('@admin', 'vm-a'),
    ]);

    // Only the admin's tool has restoreReplaced.
    const tools = await shop.client.listTools();
    const del = tools.tools.find((t) => t.name === 'tunnel_delete_cname');
    expect(Object.keys((del?.inputSchema as { properties?: object } | undefined)?.properties ?? {})).toEqual([
      'hostname',
      'path',
    ]);
    const adminDel = (await admin.client.listTools()).tools.find((t) => t.name === 'tunnel_delete_cname');
    expect(Object.keys((adminDel?.inputSchema as { properties?: object } | undefined)?.properties ?? {})).toEqual([
      'hostname',
      'path',
      'restoreReplaced',
    ]);

    const removed = await callOk(admin.client, 'tunnel_delete_cname', {
      hostname: 'sibling.example.com',
      restoreReplaced: true,
    });
    expect(removed.structured.restored).toEqual([`CNAME sibling.example.com ${SIBLING_TARGET}`]);
    expect(removed.text).toContain('Restored:');
    expect(recordsNamed(world, 'sibling.example.com').map((r) => [r.content, r.comment])).toEqual([
      [SIBLING_TARGET, formatOwnerMark('shop', 'vm-b')],
    ]);
  }, 60_000);
});
