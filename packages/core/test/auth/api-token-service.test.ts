import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@tunnel/testkit';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Actor,
  API_TOKEN_PREFIX,
  ApiTokenService,
  isTunnelError,
  JsonLogger,
  SqliteStateStore,
  TOKEN_AUDIT_ACTIONS,
  type TunnelError,
} from '../../src/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'tm-tokens-'));
  const path = join(dir, 'state.db');
  const store = SqliteStateStore.open({ path });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => store.close());
  const clock = new ManualClock();
  return { path, store, clock, tokens: new ApiTokenService({ store, clock }) };
}

async function failure(work: Promise<unknown>): Promise<TunnelError> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isTunnelError(error)) throw new Error(`expected a TunnelError, got ${String(error)}`);
  return error;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('ApiTokenService', () => {
  it('returns the token once and stores only its SHA-256, nowhere else in the database file', async () => {
    const { path, store, tokens, clock } = setup();
    const created = await tokens.create({ actor: Actor.project('shop'), label: 'shop agent' });
    expect(created.token.startsWith(API_TOKEN_PREFIX)).toBe(true);
    expect(created.token).toMatch(/^tmcp_[A-Za-z0-9_-]{43}$/);
    expect(created.record).toEqual({
      id: expect.stringMatching(/^tok_[0-9a-f]{16}$/),
      actor: { kind: 'project', project: 'shop' },
      label: 'shop agent',
      createdAt: clock.now(),
      lastUsedAt: null,
      revokedAt: null,
    });
    await store.close();
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT * FROM api_tokens').all() as Array<Record<string, unknown>>;
    db.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.hash).toBe(sha256(created.token));
    expect(JSON.stringify(rows)).not.toContain(created.token);
    // Neither the WAL nor the main file holds the plaintext.
    for (const file of [path, `${path}-wal`]) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue;
      }
      expect(bytes.includes(Buffer.from(created.token))).toBe(false);
    }
  });

  it('verifies a live token to its actor, and nothing else', async () => {
    const { tokens } = setup();
    const shop = await tokens.create({ actor: Actor.project('shop') });
    const admin = await tokens.create({ actor: Actor.admin(), label: 'meta-supervisor' });
    expect(await tokens.verify(shop.token)).toEqual({
      id: shop.record.id,
      actor: { kind: 'project', project: 'shop' },
      label: '',
    });
    expect((await tokens.verify(admin.token))?.actor).toEqual({ kind: 'admin' });
    const lastChar = shop.token.endsWith('A') ? 'B' : 'A';
    for (const bad of [
      '',
      'tmcp_',
      `${shop.token.slice(0, -1)}${lastChar}`,
      `${shop.token} `,
      shop.token.toUpperCase(),
      sha256(shop.token),
      shop.record.id,
      `Bearer ${shop.token}`,
      `tmcp_${'A'.repeat(43)}`,
    ]) {
      expect(await tokens.verify(bad)).toBeNull();
    }
    expect(await tokens.verify(undefined as unknown as string)).toBeNull();
  });

  it('records the last use at most once a minute, so verifying stays a read', async () => {
    const { tokens, clock } = setup();
    const { token, record } = await tokens.create({ actor: Actor.project('shop') });
    const lastUsed = async () => (await tokens.list()).find((t) => t.id === record.id)?.lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const first = clock.now() + 1000;
    await clock.advance(1000);
    await tokens.verify(token);
    expect(await lastUsed()).toBe(first);
    await clock.advance(30_000);
    await tokens.verify(token);
    expect(await lastUsed()).toBe(first);
    await clock.advance(30_000);
    await tokens.verify(token);
    expect(await lastUsed()).toBe(first + 60_000);
  });

  it('revokes at once, also for another process holding the same database', async () => {
    const { path, tokens, clock } = setup();
    const { token, record } = await tokens.create({ actor: Actor.project('shop') });
    const other = SqliteStateStore.open({ path });
    cleanups.push(() => other.close());
    const otherTokens = new ApiTokenService({ store: other, clock });
    expect((await otherTokens.verify(token))?.id).toBe(record.id);
    await clock.advance(5000);
    const revoked = await tokens.revoke(record.id);
    expect(revoked.revokedAt).toBe(clock.now());
    expect(await otherTokens.verify(token)).toBeNull();
    expect(await tokens.verify(token)).toBeNull();
    expect((await tokens.list()).map((t) => [t.id, t.revokedAt])).toEqual([[record.id, clock.now()]]);
  });

  it('audits every create and revoke, with actor and project, never the token or its hash', async () => {
    const { store, tokens } = setup();
    const { token, record } = await tokens.create({ actor: Actor.project('shop'), label: 'ci' });
    await tokens.revoke(record.id);
    await failure(tokens.revoke(record.id));
    const entries = await store.audit.query();
    expect(entries.map((e) => [e.action, e.actor, e.project, e.target, e.outcome, e.errorCode]).reverse()).toEqual([
      [TOKEN_AUDIT_ACTIONS.create, 'admin', 'shop', record.id, 'ok', null],
      [TOKEN_AUDIT_ACTIONS.revoke, 'admin', 'shop', record.id, 'ok', null],
      [TOKEN_AUDIT_ACTIONS.revoke, 'admin', 'shop', record.id, 'error', 'NOT_FOUND'],
    ]);
    const text = JSON.stringify(entries);
    expect(text).not.toContain(token);
    expect(text).not.toContain(sha256(token));
    expect(text).not.toContain(token.slice(API_TOKEN_PREFIX.length, API_TOKEN_PREFIX.length + 12));
  });

  it('refuses a project actor for every operation, and changes nothing', async () => {
    const { store, tokens } = setup();
    const existing = await tokens.create({ actor: Actor.project('shop') });
    const before = await tokens.list();
    const shop = Actor.project('shop');
    for (const attempt of [
      () => tokens.create({ actor: Actor.admin() }, shop),
      () => tokens.create({ actor: Actor.project('blog') }, shop),
      () => tokens.list(shop),
      () => tokens.revoke(existing.record.id, shop),
    ]) {
      const error = await failure(attempt());
      expect(error.code).toBe('NOT_OWNER');
      expect(error.hint).toMatch(/tunnel token/);
    }
    expect(await tokens.list()).toEqual(before);
    expect((await tokens.verify(existing.token))?.id).toBe(existing.record.id);
    const refused = (await store.audit.query()).filter((e) => e.outcome === 'error');
    expect(refused.map((e) => [e.action, e.actor, e.errorCode])).toEqual([
      [TOKEN_AUDIT_ACTIONS.revoke, 'project:shop', 'NOT_OWNER'],
      [TOKEN_AUDIT_ACTIONS.create, 'project:shop', 'NOT_OWNER'],
      [TOKEN_AUDIT_ACTIONS.create, 'project:shop', 'NOT_OWNER'],
    ]);
  });

  it('rejects a bad project, actor, label or id with INVALID_INPUT and a hint, storing nothing', async () => {
    const { tokens } = setup();
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => tokens.create({ actor: { kind: 'project', project: 'Shop!' } }), /project name/],
      [() => tokens.create({ actor: { kind: 'project', project: '' } }), /project name/],
      [
        () => tokens.create({ actor: { kind: 'root' } as unknown as Actor }),
        /Actor.project\(name\) or Actor.admin\(\)/,
      ],
      [() => tokens.create({ actor: undefined as unknown as Actor }), /Actor.project\(name\) or Actor.admin\(\)/],
      [() => tokens.create({ actor: Actor.admin(), label: 'a\nb' }), /one line/],
      [() => tokens.create({ actor: Actor.admin(), label: 'x'.repeat(101) }), /at most 100/],
      [() => tokens.revoke('tok_nothex'), /tok_0123456789abcdef/],
      [() => tokens.revoke(undefined as unknown as string), /tok_0123456789abcdef/],
    ];
    for (const [attempt, hint] of cases) {
      const error = await failure(attempt());
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.hint).toMatch(hint);
    }
    expect(await tokens.list()).toEqual([]);
  });

  it('fails NOT_FOUND for an unknown id, naming where to look', async () => {
    const { tokens } = setup();
    const error = await failure(tokens.revoke('tok_0123456789abcdef'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.hint).toMatch(/tunnel token ls/);
  });

  it('still returns a created token when the audit entry cannot be written, and logs that', async () => {
    const { store, clock } = setup();
    const lines: string[] = [];
    const failingAudit = {
      ...store.audit,
      append: async () => {
        throw new Error('disk full');
      },
    };
    const tokens = new ApiTokenService({
      store: { tokens: store.tokens, audit: failingAudit },
      clock,
      logger: new JsonLogger({ write: (line) => lines.push(line) }),
    });
    const created = await tokens.create({ actor: Actor.project('shop') });
    expect((await tokens.verify(created.token))?.id).toBe(created.record.id);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'error', action: 'token.create', error: 'Error: disk full' }),
    ]);
  });

  it('gives every token its own value and id', async () => {
    const { tokens } = setup();
    const made = await Promise.all(Array.from({ length: 20 }, () => tokens.create({ actor: Actor.project('shop') })));
    expect(new Set(made.map((m) => m.token)).size).toBe(20);
    expect(new Set(made.map((m) => m.record.id)).size).toBe(20);
    for (const m of made) expect((await tokens.verify(m.token))?.id).toBe(m.record.id);
  });
});
