import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describeStateStoreConformance } from '@tunnel/testkit/conformance';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isTunnelError, LATEST_SCHEMA_VERSION, MIGRATIONS, SqliteStateStore } from '../src/index.js';
import { writeRelease1Database } from './release-1-database.js';

const run = promisify(execFile);
const dirs: string[] = [];
const tempDb = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-state-'));
  dirs.push(dir);
  return join(dir, 'nested', 'state.db');
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describeStateStoreConformance('SqliteStateStore', async () => ({ store: SqliteStateStore.open({ path: tempDb() }) }));

describe('SqliteStateStore (SQLite specifics)', () => {
  it('migrates an empty file to the latest version, with WAL, foreign keys and a busy timeout', async () => {
    const path = tempDb();
    const store = SqliteStateStore.open({ path, busyTimeoutMs: 1234 });
    expect(store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => (r as { name: string }).name);
    for (const t of [
      'cnames',
      'tunnel_health',
      'domains',
      'docker_networks',
      'docker_containers',
      'container_networks',
      'container_ports',
      'audit_log',
      'api_tokens',
      'schema_migrations',
    ]) {
      expect(tables).toContain(t);
    }
    const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
    expect(applied).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    db.close();
    // Re-opening applies nothing twice.
    const again = SqliteStateStore.open({ path });
    expect(again.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    await again.close();
  });

  it('applies a later migration to an existing database, keeping its data', async () => {
    const path = tempDb();
    const v1 = SqliteStateStore.open({ path });
    await v1.domains.replaceAll([{ id: 'z', name: 'example.com', status: 'active', accountId: null }], 1);
    await v1.close();
    const next = [
      ...MIGRATIONS,
      { version: LATEST_SCHEMA_VERSION + 1, name: 'test_column', sql: 'ALTER TABLE domains ADD COLUMN note TEXT' },
    ];
    const v2 = SqliteStateStore.open({ path, migrations: next });
    expect(v2.schemaVersion()).toBe(LATEST_SCHEMA_VERSION + 1);
    expect(await v2.domains.list()).toHaveLength(1);
    await v2.close();
  });

  it('migration 3 keeps version-1 routes as path-less routes and makes (hostname, path) the live key', async () => {
    const path = tempDb();
    mkdirSync(dirname(path), { recursive: true });
    writeRelease1Database(path, { hostname: 'app.example.com', zoneId: 'z' });
    const store = SqliteStateStore.open({ path });
    expect(store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    const old = await store.routes.get('r1');
    expect(old).toMatchObject({ hostname: 'app.example.com', path: null, originRequest: null, state: 'active' });
    const api = await store.routes.reserve(
      {
        id: 'r2',
        hostname: 'app.example.com',
        path: '^/api/',
        zoneId: 'z',
        zoneName: 'example.com',
        owner: 'shop',
        service: { container: null, port: 3001, scheme: 'http' },
        target: 'http://localhost:3001',
        targetReason: 'host',
        createdAt: 2,
      },
      { quota: null },
    );
    expect(api.path).toBe('^/api/');
    await store.close();
    // The index itself refuses a second live path-less route, whatever the code above it does.
    const check = new Database(path);
    expect(() =>
      check
        .prepare(
          `INSERT INTO cnames (id, hostname, zone_id, zone_name, owner, service_port, service_scheme, target,
            target_reason, state, created_at, updated_at) VALUES ('r3', 'app.example.com', 'z', 'example.com',
            'shop', 1, 'http', 't', 'r', 'active', 3, 3)`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
    check.close();
  });

  it('applies a migration numbered below one already applied (branches merged in either order)', async () => {
    const path = tempDb();
    const high = { version: LATEST_SCHEMA_VERSION + 2, name: 'high', sql: 'CREATE TABLE high (x INTEGER) STRICT' };
    const first = SqliteStateStore.open({ path, migrations: [...MIGRATIONS, high] });
    await first.close();
    const low = { version: LATEST_SCHEMA_VERSION + 1, name: 'low', sql: 'CREATE TABLE low (x INTEGER) STRICT' };
    const again = SqliteStateStore.open({ path, migrations: [...MIGRATIONS, low, high] });
    await again.close();
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(
      [...MIGRATIONS, low, high].map((m) => ({ version: m.version })),
    );
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'low'").get()).toEqual({ name: 'low' });
    check.close();
  });

  it('refuses a database written by a newer schema: STATE_CORRUPT, file untouched', async () => {
    const path = tempDb();
    const store = SqliteStateStore.open({ path });
    await store.domains.replaceAll([{ id: 'z', name: 'example.com', status: 'active', accountId: null }], 1);
    await store.close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      LATEST_SCHEMA_VERSION + 5,
      'from_the_future',
      0,
    );
    db.close();
    try {
      SqliteStateStore.open({ path });
      throw new Error('expected STATE_CORRUPT');
    } catch (error) {
      expect(isTunnelError(error, 'STATE_CORRUPT')).toBe(true);
      expect((error as Error).message).toContain(`schema version ${LATEST_SCHEMA_VERSION + 5}`);
      expect((error as { hint: string }).hint).toMatch(/upgrade/i);
    }
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM domains').get()).toEqual({ n: 1 });
    expect(check.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({
      v: LATEST_SCHEMA_VERSION + 5,
    });
    check.close();
  });

  it('stores a health sample whose /ready latency has a fraction (regression: STRICT INTEGER column refused it)', async () => {
    const store = SqliteStateStore.open({ path: tempDb() });
    const sample = {
      at: 1_000,
      status: 'healthy' as const,
      processState: 'running' as const,
      readyConnections: 4,
      latencyMs: 3.217,
      apiStatus: null,
      failingCheck: null,
      detail: null,
    };
    await store.health.insert(sample);
    expect(await store.health.list({ limit: 5 })).toEqual([{ ...sample, latencyMs: 3 }]);
    await store.close();
  });

  it('reports a file that is not a database as STATE_CORRUPT', () => {
    const path = tempDb();
    SqliteStateStore.open({ path }).close();
    writeFileSync(path, 'this is not sqlite '.repeat(100));
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    expect(() => SqliteStateStore.open({ path })).toThrowError(expect.objectContaining({ code: 'STATE_CORRUPT' }));
  });

  it('lets two processes write at once without SQLITE_BUSY', async () => {
    const path = tempDb();
    SqliteStateStore.open({ path }).close();
    const coreDist = new URL('../dist/index.js', import.meta.url).href;
    // Each writer mixes reserve (read-then-write), audit appends and health inserts.
    const script = `
      import { SqliteStateStore } from ${JSON.stringify(coreDist)};
      const [path, who] = process.argv.slice(1);
      const store = SqliteStateStore.open({ path, busyTimeoutMs: 10000 });
      let errors = 0;
      for (let i = 0; i < 150; i++) {
        try {
          await store.routes.reserve({ id: who + i, hostname: 'h' + i + '.' + who + '.example.com', zoneId: 'z', zoneName: 'example.com', owner: who, service: { container: null, port: 80, scheme: 'http' }, target: 'http://localhost:80', targetReason: 'r', createdAt: i }, { quota: null });
          await store.audit.append({ at: i, actor: 'project:' + who, project: who, action: 'cname.request', target: null, params: { i }, outcome: 'ok', errorCode: null, message: null, durationMs: 1 });
          await store.health.insert({ at: i, status: 'healthy', processState: 'running', readyConnections: 1, latencyMs: 1, apiStatus: null, failingCheck: null, detail: null });
        } catch (e) { errors++; console.error(e.code ?? e.message); }
      }
      await store.close();
      console.log(JSON.stringify({ errors }));
    `;
    const child = (who: string) => run(process.execPath, ['--input-type=module', '-e', script, path, who]);
    const [a, b] = await Promise.all([child('alpha'), child('beta')]);
    expect(JSON.parse(a.stdout)).toEqual({ errors: 0 });
    expect(JSON.parse(b.stdout)).toEqual({ errors: 0 });
    expect(a.stderr + b.stderr).not.toMatch(/BUSY|LOCK/);
    const store = SqliteStateStore.open({ path });
    expect(await store.routes.list()).toHaveLength(300);
    expect(await store.audit.query({ limit: 1000 })).toHaveLength(300);
    await store.close();
  }, 60_000);
});
