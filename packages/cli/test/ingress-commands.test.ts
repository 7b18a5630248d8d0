import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type IngressRule, LocalFileIngressStore, SqliteStateStore } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { FAMILY_EXIT_CODES } from '../src/index.js';
import { cleanTempDirs, runInProcess, tempDir } from './support/io.js';

afterEach(cleanTempDirs);

const TUNNEL = 'c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01';
const FILE = `# cloudflared, hand-written
tunnel: ${TUNNEL}
ingress:
  - hostname: static.example.com
    service: http://localhost:8000
  - service: http_status:404
`;

/** A data directory and cloudflared config.yml, with `tunnel` pointed at them through env vars. */
function setup() {
  const dir = tempDir();
  const configPath = join(dir, 'cloudflared.yml');
  writeFileSync(configPath, FILE);
  const env = {
    TM_DATA_DIR: dir,
    TM_INGRESS__CONFIG_PATH: configPath,
    TM_DOCKER__ENABLED: 'false',
  };
  const store = new LocalFileIngressStore({ path: configPath, backupDir: join(dir, 'ingress-backups') });
  return { dir, configPath, env, store };
}

async function addManaged(store: LocalFileIngressStore, hostname: string, owner: string): Promise<void> {
  const snapshot = await store.read();
  const rules: IngressRule[] = [{ hostname, service: 'http://localhost:9000', managed: { owner } }, ...snapshot.rules];
  await store.write(rules, snapshot.version);
}

describe('tunnel ingress show | validate | rule', () => {
  it('show --json lists the rules in order, with the owner of each managed rule', async () => {
    const { env, store } = setup();
    await addManaged(store, 'shop.example.com', 'shop');
    const { code, stdout } = await runInProcess(['ingress', 'show', '--json'], env);
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as {
      rules: Array<{ index: number; hostname: string | null; owner: string | null }>;
    };
    expect(doc.rules.map((r) => [r.index, r.hostname, r.owner])).toEqual([
      [0, 'shop.example.com', 'shop'],
      [1, 'static.example.com', null],
      [2, null, null],
    ]);
    const human = await runInProcess(['ingress', 'show'], env);
    expect(human.stdout).toMatch(/1\s+shop\.example\.com\s+http:\/\/localhost:9000\s+shop/);
    expect(human.stdout).toMatch(/3\s+\(catch-all\)\s+http_status:404\s+-/);
  });

  it('show on a config.yml without ingress rules yet says so, and what the first route does', async () => {
    const { configPath, env } = setup();
    writeFileSync(configPath, `tunnel: ${TUNNEL}\ncredentials-file: /etc/cloudflared/${TUNNEL}.json\n`);
    const human = await runInProcess(['ingress', 'show'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/No ingress rules yet: cloudflared answers 503 to every request/);
    expect(human.stdout).not.toMatch(/HOSTNAME/);
    const doc = JSON.parse((await runInProcess(['ingress', 'show', '--json'], env)).stdout) as { rules: unknown[] };
    expect(doc.rules).toEqual([]);
  });

  it('validate: exit 0 for a valid file; for an invalid one every problem with its line, exit 5', async () => {
    const { dir, env } = setup();
    const ok = await runInProcess(['ingress', 'validate'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/✓ .*cloudflared\.yml: 2 rules; cloudflared accepts them/);
    const bad = join(dir, 'bad.yml');
    const badText = `tunnel: ${TUNNEL}\ningress:\n  - service: http_status:404\n  - hostname: late.example.com\n    service: http://localhost:1/path\n`;
    writeFileSync(bad, badText);
    const refused = await runInProcess(['ingress', 'validate', bad, '--json'], env);
    expect(refused.code).toBe(FAMILY_EXIT_CODES.conflict);
    const report = JSON.parse(refused.stdout) as { valid: boolean; errors: Array<{ message: string; line?: number }> };
    expect(report.valid).toBe(false);
    expect(report.errors.length).toBeGreaterThanOrEqual(1);
    expect(report.errors.every((e) => typeof e.line === 'number')).toBe(true);
    const human = await runInProcess(['ingress', 'validate', bad], env);
    expect(human.stdout).toMatch(/✗ .*bad\.yml: cloudflared would refuse this configuration/);
    expect(human.stdout).toMatch(/Rule #1 .*\(line 3, column \d+\)/);
    // Validating changes nothing.
    expect(readFileSync(bad, 'utf8')).toBe(badText);
  });

  it('validate: an unquoted *.example.com is INGRESS_INVALID with its line and column, never INTERNAL (issue 19)', async () => {
    const { dir, env } = setup();
    const bad = join(dir, 'star.yml');
    writeFileSync(
      bad,
      `tunnel: ${TUNNEL}\ningress:\n  - hostname: *.example.com\n    service: http://localhost:8080\n  - service: http_status:404\n`,
    );
    const human = await runInProcess(['ingress', 'validate', bad], env);
    expect(human.code).toBe(FAMILY_EXIT_CODES.conflict);
    expect(human.stdout).toMatch(/cloudflared would refuse this configuration/);
    expect(human.stdout).toMatch(/\(line 3, column 15\)/);
    expect(human.stdout + human.stderr).not.toMatch(/INTERNAL|Unexpected error|bug in Tunnel Manager/);
    const json = await runInProcess(['ingress', 'validate', bad, '--json'], env);
    const report = JSON.parse(json.stdout) as { errors: Array<{ code: string; cloudflared: string; line: number }> };
    expect(report.errors[0]).toMatchObject({
      code: 'yaml-syntax',
      cloudflared: 'yaml: line 3: did not find expected alphabetic or numeric character',
      line: 3,
    });
  });

  it('rule <url>: the rule cloudflared would use, numbered from 0; a bad URL is INVALID_INPUT (exit 3)', async () => {
    const { env } = setup();
    const hit = await runInProcess(['ingress', 'rule', 'https://static.example.com/x', '--json'], env);
    expect(hit.code).toBe(0);
    expect(JSON.parse(hit.stdout)).toMatchObject({ index: 0, hostname: 'static.example.com' });
    const miss = await runInProcess(['ingress', 'rule', 'https://other.example.com/'], env);
    expect(miss.stdout).toMatch(/^Matched rule #1\n {2}service: http_status:404/);
    const bad = await runInProcess(['ingress', 'rule', 'no host here'], env);
    expect(bad.code).toBe(FAMILY_EXIT_CODES.input);
    expect(bad.stderr).toMatch(/\[INVALID_INPUT\]/);
  });
});

describe('tunnel ingress backups | restore', () => {
  it('restores a backup: the file comes back, the restore is audited and a restart is queued for the daemon', async () => {
    const { dir, configPath, env, store } = setup();
    await addManaged(store, 'a.example.com', 'alpha');
    const afterFirst = readFileSync(configPath, 'utf8');
    await addManaged(store, 'b.example.com', 'beta');
    const listed = await runInProcess(['ingress', 'backups', '--json'], env);
    expect(listed.code).toBe(0);
    const { backups } = JSON.parse(listed.stdout) as { backups: Array<{ id: string; ruleCount: number }> };
    expect(backups.map((b) => b.ruleCount)).toEqual([3, 2]);
    const restored = await runInProcess(['ingress', 'restore', (backups[0] as { id: string }).id], env);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/restored backup .*: 3 rules/);
    expect(readFileSync(configPath, 'utf8')).toBe(afterFirst);
    const db = SqliteStateStore.open({ path: join(dir, 'state.db') });
    try {
      const [audit] = await db.audit.query({ action: 'ingress.restore' });
      expect(audit).toMatchObject({ actor: 'admin', outcome: 'ok', target: backups[0]?.id });
      expect(await db.restarts.pending()).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('an unknown backup id is NOT_FOUND (exit 3) and changes neither the file nor the restart queue', async () => {
    const { dir, configPath, env, store } = setup();
    await addManaged(store, 'a.example.com', 'alpha');
    const before = readFileSync(configPath, 'utf8');
    const { code, stderr } = await runInProcess(
      ['ingress', 'restore', 'config.yml.20260101T000000000Z.r1.nope.bak'],
      env,
    );
    expect(code).toBe(FAMILY_EXIT_CODES.input);
    expect(stderr).toMatch(/There is no ingress backup .*\[NOT_FOUND\]/);
    expect(readFileSync(configPath, 'utf8')).toBe(before);
    const db = SqliteStateStore.open({ path: join(dir, 'state.db') });
    try {
      expect(await db.restarts.pending()).toBe(0);
      expect(await db.audit.query({ action: 'ingress.restore' })).toMatchObject([
        { outcome: 'error', errorCode: 'NOT_FOUND' },
      ]);
    } finally {
      await db.close();
    }
  });
});
