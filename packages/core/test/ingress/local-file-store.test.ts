import { chmodSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '@tunnel/testkit';
import { describeIngressStoreConformance, INGRESS_CONFORMANCE_RULES } from '@tunnel/testkit/conformance';
import { lockSync } from 'proper-lockfile';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ABSENT_VERSION,
  createTunnelManagerContainer,
  type IngressRule,
  isTunnelError,
  LocalFileIngressStore,
  parseConfig,
  resolvePort,
  type TunnelError,
} from '../../src/index.js';
import { beforeCatchAll, HAND_WRITTEN_CONFIG, managedRule, tempDirs, writeConfig } from './helpers.js';

const temp = tempDirs();
afterEach(() => temp.cleanup());

const CONFORMANCE_YAML = `tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
ingress:
  - hostname: hand.example.com
    service: http://localhost:8000
  - hostname: static.example.com
    path: ^/assets/
    service: http://localhost:8001
  - service: http_status:404
`;

describeIngressStoreConformance('LocalFileIngressStore', async () => {
  const dir = temp.make();
  const store = new LocalFileIngressStore({
    path: writeConfig(dir, CONFORMANCE_YAML),
    backupDir: join(dir, 'backups'),
  });
  return { store, cleanup: () => store.settled() };
});

async function failure(promise: Promise<unknown>): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a TunnelError');
}

function setup(text = HAND_WRITTEN_CONFIG, options: { backups?: number; clock?: ManualClock } = {}) {
  const dir = temp.make();
  const path = writeConfig(dir, text);
  const backupDir = join(dir, 'backups');
  const store = new LocalFileIngressStore({ path, backupDir, ...options, lockStaleMs: 2_000 });
  return { dir, path, backupDir, store };
}

describe('LocalFileIngressStore', () => {
  it('seeds the conformance suite with the rules it expects', async () => {
    const { store } = setup(CONFORMANCE_YAML);
    expect((await store.read()).rules).toEqual(INGRESS_CONFORMANCE_RULES);
  });

  it('uses the SHA-256 of the file as its version', async () => {
    const { store, path } = setup();
    const { createHash } = await import('node:crypto');
    expect((await store.read()).version).toBe(createHash('sha256').update(readFileSync(path)).digest('hex'));
  });

  it('writes a managed rule with its owner mark and keeps every other byte', async () => {
    const { store, path } = setup();
    const before = await store.read();
    await store.write(beforeCatchAll(before.rules, managedRule(1)), before.version);
    const text = readFileSync(path, 'utf8');
    const entry = '  - hostname: app1.example.com # tunnel-manager:alpha\n    service: http://web-1:8080\n';
    expect(text.replace(entry, '')).toBe(HAND_WRITTEN_CONFIG);
    // A fresh store (no cache, no database) recovers the ownership from the mark.
    const fresh = new LocalFileIngressStore({ path, backupDir: join(path, '..', 'b2') });
    expect((await fresh.read()).rules.filter((r) => r.managed)).toEqual([managedRule(1)]);
  });

  it('notices a change made behind its back (by hand) and refuses the stale version', async () => {
    const { store, path } = setup();
    const before = await store.read();
    writeFileSync(path, HAND_WRITTEN_CONFIG.replace('www.example.com', 'www2.example.com'));
    const error = await failure(store.write(beforeCatchAll(before.rules, managedRule(1)), before.version));
    expect(error.code).toBe('CONCURRENT_CHANGE');
    expect(readFileSync(path, 'utf8')).toContain('www2.example.com');
    expect((await store.read()).rules[0]?.hostname).toBe('www2.example.com');
  });

  it('keeps the file mode (and owner) across writes', async () => {
    const { store, path } = setup();
    chmodSync(path, 0o640);
    const before = await store.read();
    await store.write(beforeCatchAll(before.rules, managedRule(1)), before.version);
    const after = statSync(path);
    expect(after.mode & 0o777).toBe(0o640);
    expect(after.uid).toBe(process.getuid?.());
  });

  it('writes through a symlinked config path to the real file', async () => {
    const { store: _unused, path, dir } = setup();
    const link = join(dir, 'linked.yml');
    symlinkSync(path, link);
    const store = new LocalFileIngressStore({ path: link, backupDir: join(dir, 'backups') });
    const before = await store.read();
    await store.write(beforeCatchAll(before.rules, managedRule(2)), before.version);
    expect(statSync(link, { throwIfNoEntry: true }).isFile()).toBe(true);
    expect(readFileSync(path, 'utf8')).toContain('app2.example.com');
    expect(existsSync(link) && readdirSync(dir).includes('linked.yml')).toBe(true);
  });

  it('reports an unparseable file with line and column, and never overwrites it', async () => {
    const broken = HAND_WRITTEN_CONFIG.replace(
      '    service: http://localhost:8081\n',
      '    service: [http://localhost:8081\n',
    );
    const { store, path } = setup(broken);
    const error = await failure(store.read());
    expect(error.code).toBe('INGRESS_INVALID');
    const problems = (error.details?.problems ?? []) as { code: string; line: number; column: number }[];
    expect(problems[0]).toMatchObject({ code: 'yaml-syntax' });
    expect(problems[0]?.line).toBeGreaterThan(10);
    expect(error.message).toMatch(/line \d+, column \d+/);
    const version = error.details?.version as string;
    const write = await failure(store.write([managedRule(1), { service: 'http_status:404' }], version));
    expect(write.code).toBe('INGRESS_INVALID');
    expect(readFileSync(path, 'utf8')).toBe(broken);
  });

  it('reports a file cloudflared would refuse (valid YAML) with the rule and its position', async () => {
    const invalid = HAND_WRITTEN_CONFIG.replace(
      "service: 'http://localhost:8080'",
      "service: 'http://localhost:8080/'",
    );
    const { store, path } = setup(invalid);
    const error = await failure(store.read());
    expect(error.code).toBe('INGRESS_INVALID');
    expect(error.details?.problems).toEqual([
      expect.objectContaining({ code: 'service-has-path', ruleNumber: 1, line: 12, column: 5 }),
    ]);
    expect(error.message).toContain('Rule #1');
    const inspected = await store.inspect();
    expect(inspected.problems).toHaveLength(1);
    expect(readFileSync(path, 'utf8')).toBe(invalid);
  });

  it('repairs an invalid file only when asked, keeping its other settings and a backup', async () => {
    const invalid = HAND_WRITTEN_CONFIG.replace(
      "service: 'http://localhost:8080'",
      "service: 'http://localhost:8080/'",
    );
    const { store, path } = setup(invalid);
    const { version, rules } = await store.inspect();
    const fixed = [{ ...rules[0], service: 'http://localhost:8080' } as IngressRule, ...rules.slice(1)];
    const snapshot = await store.write(fixed, version, { repair: true });
    expect(snapshot.rules).toEqual(fixed);
    expect(readFileSync(path, 'utf8')).toContain('tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef');
    const backups = await store.listBackups();
    expect(backups[0]?.version).toBe(version);
  });

  it('reports a missing file, and creates it only on a repair', async () => {
    const { dir } = setup();
    const path = join(dir, 'missing.yml');
    const store = new LocalFileIngressStore({ path, backupDir: join(dir, 'backups') });
    const error = await failure(store.read());
    expect(error.code).toBe('INGRESS_INVALID');
    expect(error.details?.version).toBe(ABSENT_VERSION);
    expect((await failure(store.write([{ service: 'http_status:404' }], ABSENT_VERSION))).code).toBe('INGRESS_INVALID');
    expect(existsSync(path)).toBe(false);
    await store.write([managedRule(1), { service: 'http_status:404' }], ABSENT_VERSION, { repair: true });
    expect(readFileSync(path, 'utf8')).toBe(
      'ingress:\n  - hostname: app1.example.com # tunnel-manager:alpha\n    service: http://web-1:8080\n  - service: http_status:404\n',
    );
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('refuses a candidate cloudflared would reject and leaves the file alone', async () => {
    const { store, path } = setup();
    const before = await store.read();
    const bad = beforeCatchAll(before.rules, { hostname: 'x.example.com', path: '(?<!a)b', service: 'http://h:1' });
    const error = await failure(store.write(bad, before.version));
    expect(error.code).toBe('INGRESS_INVALID');
    expect(error.message).toContain('Rule #4');
    expect(readFileSync(path, 'utf8')).toBe(HAND_WRITTEN_CONFIG);
    expect(await store.listBackups()).toEqual([]);
  });

  it('keeps the last N versions as backups, newest first, and restores one', async () => {
    const clock = new ManualClock(Date.UTC(2026, 4, 1, 12));
    const { store, backupDir } = setup(HAND_WRITTEN_CONFIG, { backups: 3, clock });
    const versions: string[] = [];
    let snapshot = await store.read();
    for (let i = 1; i <= 5; i++) {
      versions.push(snapshot.version);
      snapshot = await store.write(beforeCatchAll(snapshot.rules, managedRule(i)), snapshot.version);
      await clock.advance(1_000);
    }
    await store.settled();
    const backups = await store.listBackups();
    expect(backups.map((b) => b.version)).toEqual(versions.slice(-3).reverse());
    expect(backups.map((b) => b.createdAt)).toEqual([4, 3, 2].map((s) => Date.UTC(2026, 4, 1, 12) + s * 1_000));
    expect(backups.map((b) => b.ruleCount)).toEqual([8, 7, 6]);
    expect(readdirSync(backupDir)).toHaveLength(3);
    const oldest = backups[2];
    const restored = await store.restoreBackup(oldest?.id ?? '');
    expect(restored.version).toBe(versions[2]);
    expect(restored.rules.filter((r) => r.managed)).toEqual([managedRule(1), managedRule(2)]);
    // The restore replaced a version: that one is now a backup too.
    await store.settled();
    expect((await store.listBackups())[0]?.version).toBe(snapshot.version);
    expect((await failure(store.restoreBackup('../config.yml'))).code).toBe('NOT_FOUND');
  });

  it('gives backups made in the same millisecond distinct ids', async () => {
    const clock = new ManualClock();
    const { store } = setup(HAND_WRITTEN_CONFIG, { clock });
    let snapshot = await store.read();
    for (let i = 1; i <= 3; i++)
      snapshot = await store.write(beforeCatchAll(snapshot.rules, managedRule(i)), snapshot.version);
    const backups = await store.listBackups();
    expect(new Set(backups.map((b) => b.id)).size).toBe(3);
    expect(backups.map((b) => b.ruleCount)).toEqual([6, 5, 4]);
  });

  it('keeps no backups when told to keep none', async () => {
    const { store, backupDir } = setup(HAND_WRITTEN_CONFIG, { backups: 0 });
    const before = await store.read();
    await store.write(beforeCatchAll(before.rules, managedRule(1)), before.version);
    expect(existsSync(backupDir)).toBe(false);
  });

  it('waits for another holder of the lock, then gives up with LOCK_TIMEOUT', async () => {
    const clock = new ManualClock();
    const dir = temp.make();
    const path = writeConfig(dir);
    const store = new LocalFileIngressStore({ path, backupDir: join(dir, 'b'), clock, lockTimeoutMs: 1_000 });
    const release = lockSync(path, { realpath: false, stale: 60_000 });
    try {
      const before = await store.read();
      const pending = failure(store.write(beforeCatchAll(before.rules, managedRule(1)), before.version));
      await clock.advance(1_500);
      expect((await pending).code).toBe('LOCK_TIMEOUT');
      expect(readFileSync(path, 'utf8')).toBe(HAND_WRITTEN_CONFIG);
    } finally {
      release();
    }
  });

  it('removes the temporary file of a writer that died mid-write', async () => {
    const { store, dir, path } = setup();
    // pid 2^22+1 is above Linux's pid_max default: no such process.
    const orphan = join(dir, `.config.yml.tm-${2 ** 22 + 1}-abcdef.tmp`);
    writeFileSync(orphan, 'half a file');
    const before = await store.read();
    await store.write(beforeCatchAll(before.rules, managedRule(1)), before.version);
    expect(existsSync(orphan)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('.tm-'))).toEqual([]);
    expect(readFileSync(path, 'utf8')).toContain('app1.example.com');
  });

  it('update() runs read-change-write under the lock', async () => {
    const { store } = setup();
    const first = await store.update((s) => beforeCatchAll(s.rules, managedRule(1)));
    expect(first.changed).toBe(true);
    const same = await store.update(() => null);
    expect(same).toEqual({ snapshot: first.snapshot, changed: false });
  });

  it('is what the composition root provides in local mode', async () => {
    const dir = temp.make();
    const path = writeConfig(dir);
    const config = parseConfig({ dataDir: dir, ingress: { mode: 'local', configPath: path, backups: 2 } });
    const store = resolvePort(createTunnelManagerContainer(config), 'IngressStore');
    expect(store).toBeInstanceOf(LocalFileIngressStore);
    expect((await store.read()).rules).toHaveLength(4);
    const remote = parseConfig({ dataDir: dir, ingress: { mode: 'remote' } });
    expect(createTunnelManagerContainer(remote).isRegistered(Symbol.for('tunnel-manager.IngressStore'), true)).toBe(
      false,
    );
  });
});
