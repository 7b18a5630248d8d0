import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { Actor, CREATE_CHECKPOINTS, DELETE_CHECKPOINTS, INTERRUPTED_MESSAGE, ROUTE_STATES } from '../../src/index.js';
import { disagreements, INSTANCE_ID, managedRules, recordsNamed, startWorld, type World } from './helpers.js';

const fixture = new URL('./fixtures/manager-child.mjs', import.meta.url).pathname;
const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

/** A world whose child processes need no Docker: services on the host. */
async function world(): Promise<World> {
  const w = await startWorld({ topology: null, records: [], config: { docker: { enabled: false } } });
  worlds.push(w);
  return w;
}

async function child(w: World, ...args: string[]) {
  return childWith(w, {}, ...args);
}

async function childWith(w: World, env: Record<string, string>, ...args: string[]) {
  const run = await execa(process.execPath, [fixture, w.configFile, ...args], {
    env,
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
  });
  const line = run.stdout.trim().split('\n').pop() ?? '';
  return { signal: run.signal, exitCode: run.exitCode, stderr: run.stderr, out: line ? JSON.parse(line) : null };
}

const HOST = 'crash.example.com';

/** What each checkpoint has done when the process dies there: the stored state, and the side effects. */
const AFTER_CREATE: Record<(typeof CREATE_CHECKPOINTS)[number], { state: string; rule: boolean; record: boolean }> = {
  reserved: { state: 'reserved', rule: false, record: false },
  ingress_written: { state: 'ingress_written', rule: false, record: false },
  rule_written: { state: 'ingress_written', rule: true, record: false },
  dns_created: { state: 'dns_created', rule: true, record: false },
  record_created: { state: 'dns_created', rule: true, record: true },
  record_stored: { state: 'dns_created', rule: true, record: true },
  restart_requested: { state: 'dns_created', rule: true, record: true },
  active: { state: 'active', rule: true, record: true },
};
const AFTER_DELETE: Record<(typeof DELETE_CHECKPOINTS)[number], { state: string; rule: boolean; record: boolean }> = {
  deleting: { state: 'deleting', rule: true, record: true },
  record_deleted: { state: 'deleting', rule: true, record: false },
  dns_deleted: { state: 'dns_deleted', rule: true, record: false },
  rule_removed: { state: 'dns_deleted', rule: false, record: false },
  ingress_removed: { state: 'ingress_removed', rule: false, record: false },
  restart_requested: { state: 'ingress_removed', rule: false, record: false },
  deleted: { state: 'deleted', rule: false, record: false },
};
const shop = Actor.project('shop');

describe('crash safety: a process SIGKILLed at each pipeline step, then recover() in a new process', () => {
  it.each(CREATE_CHECKPOINTS)(
    'create, killed at "%s": fully there or fully gone',
    async (checkpoint) => {
      const w = await world();
      const killed = await child(w, 'create', HOST, '3000', checkpoint);
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      // The dead process left its lock behind; recovery takes it over once stale.
      expect(existsSync(join(w.dir, 'mutation.lock'))).toBe(true);
      const [left] = await w.db.routes.list({ hostname: HOST, states: ROUTE_STATES });
      const effects = AFTER_CREATE[checkpoint];
      expect(left?.state).toBe(effects.state);
      expect(recordsNamed(w, HOST)).toHaveLength(effects.record ? 1 : 0);
      expect(await managedRules(w)).toHaveLength(effects.rule ? 1 : 0);

      const recovered = await child(w, 'recover');
      expect(recovered.out, recovered.stderr).toMatchObject({ ok: true });
      expect(await disagreements(w)).toEqual([]);

      const [route] = await w.db.routes.list({ hostname: HOST, states: ROUTE_STATES });
      if (checkpoint === 'active') {
        expect(route?.state).toBe('active');
        expect(recovered.out.result.routes).toEqual([]);
        expect(recordsNamed(w, HOST)).toHaveLength(1);
        expect(await managedRules(w)).toHaveLength(1);
      } else {
        expect(route).toMatchObject({ state: 'failed', lastError: { code: 'INTERNAL', message: INTERRUPTED_MESSAGE } });
        expect(recovered.out.result.routes).toMatchObject([
          { hostname: HOST, from: left?.state, to: 'failed', problems: [] },
        ]);
        expect(recordsNamed(w, HOST)).toEqual([]);
        expect(await managedRules(w)).toEqual([]);
        const [audit] = await w.db.audit.query({ action: 'cname.recover' });
        expect(audit).toMatchObject({ actor: 'system', target: HOST, outcome: 'ok' });
        // The name is free again.
        expect((await w.manager.requestCname(shop, { hostname: HOST, service: { port: 3000 } })).outcome).toBe(
          'created',
        );
        expect(await disagreements(w)).toEqual([]);
      }
    },
    180_000,
  );

  it.each(DELETE_CHECKPOINTS)(
    'delete, killed at "%s": rolled forward to gone',
    async (checkpoint) => {
      const w = await world();
      await w.manager.requestCname(shop, { hostname: HOST, service: { port: 3000 } });
      expect(await disagreements(w)).toEqual([]);

      const killed = await child(w, 'delete', HOST, checkpoint);
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const [left] = await w.db.routes.list({ hostname: HOST, states: ROUTE_STATES });
      const effects = AFTER_DELETE[checkpoint];
      expect(left?.state).toBe(effects.state);
      expect(recordsNamed(w, HOST)).toHaveLength(effects.record ? 1 : 0);
      expect(await managedRules(w)).toHaveLength(effects.rule ? 1 : 0);
      const recovered = await child(w, 'recover');
      expect(recovered.out, recovered.stderr).toMatchObject({ ok: true });

      expect(await disagreements(w)).toEqual([]);
      const [route] = await w.db.routes.list({ hostname: HOST, states: ROUTE_STATES });
      expect(route?.state).toBe('deleted');
      expect(recordsNamed(w, HOST)).toEqual([]);
      expect(await managedRules(w)).toEqual([]);
      if (checkpoint !== 'deleted') {
        expect(recovered.out.result.routes).toMatchObject([{ hostname: HOST, to: 'deleted', problems: [] }]);
      }
    },
    180_000,
  );

  it('a request in another process recovers a crashed route it meets before going on', async () => {
    const w = await world();
    const killed = await child(w, 'create', HOST, '3000', 'record_created');
    expect(killed.signal).toBe('SIGKILL');
    // No recover() run: the next create of the same name (another process) cleans up first.
    const again = await child(w, 'create', HOST, '3001');
    expect(again.out, again.stderr).toMatchObject({ ok: true, result: { outcome: 'created' } });
    expect(await disagreements(w)).toEqual([]);
    expect((await w.db.routes.list({ hostname: HOST, states: ['failed'] })).length).toBe(1);
    expect(await managedRules(w)).toEqual([
      { hostname: HOST, service: 'http://localhost:3001', managed: { owner: 'shop', instance: INSTANCE_ID } },
    ]);
  }, 180_000);

  describe('a second path of a hostname: the first path and the shared record survive', () => {
    const api = { ROUTE_PATH: '^/api/' };
    // The checkpoints around the two steps a path route does differently (it shares the
    // hostname's record; it removes only its own rule); the others are covered above.
    const CREATE_AT = ['rule_written', 'dns_created', 'record_stored', 'active'] as const;
    const DELETE_AT = ['deleting', 'record_deleted', 'rule_removed', 'ingress_removed'] as const;
    const paths = async (w: World) => (await managedRules(w)).map((r) => r.path ?? null);

    it.each(CREATE_AT)(
      'create of the path, killed at "%s"',
      async (checkpoint) => {
        const w = await world();
        await w.manager.requestCname(shop, { hostname: HOST, service: { port: 3000 } });
        const killed = await childWith(w, api, 'create', HOST, '3001', checkpoint);
        expect(killed.signal, killed.stderr).toBe('SIGKILL');
        const recovered = await child(w, 'recover');
        expect(recovered.out, recovered.stderr).toMatchObject({ ok: true });
        expect(await disagreements(w)).toEqual([]);
        expect(recordsNamed(w, HOST)).toHaveLength(1);
        const live = await w.db.routes.listLive(HOST);
        expect(live.map((r) => [r.path, r.state])).toEqual(
          checkpoint === 'active'
            ? [
                [null, 'active'],
                ['^/api/', 'active'],
              ]
            : [[null, 'active']],
        );
        expect(await paths(w)).toEqual(checkpoint === 'active' ? ['^/api/', null] : [null]);
      },
      180_000,
    );

    it.each(DELETE_AT)(
      'delete of the path, killed at "%s"',
      async (checkpoint) => {
        const w = await world();
        await w.manager.requestCname(shop, { hostname: HOST, service: { port: 3000 } });
        await w.manager.requestCname(shop, { hostname: HOST, path: '^/api/', service: { port: 3001 } });
        const killed = await childWith(w, api, 'delete', HOST, checkpoint);
        expect(killed.signal, killed.stderr).toBe('SIGKILL');
        const recovered = await child(w, 'recover');
        expect(recovered.out, recovered.stderr).toMatchObject({ ok: true });
        expect(await disagreements(w)).toEqual([]);
        expect(recordsNamed(w, HOST)).toHaveLength(1);
        expect((await w.db.routes.listLive(HOST)).map((r) => [r.path, r.state])).toEqual([[null, 'active']]);
        expect(await paths(w)).toEqual([null]);
      },
      180_000,
    );
  });
});
