import { join } from 'node:path';
import { ApiTokenService, SqliteStateStore, SystemClock } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_USAGE, FAMILY_EXIT_CODES } from '../src/index.js';
import { cleanTempDirs, runInProcess, tempDir } from './support/io.js';

afterEach(cleanTempDirs);

function setup() {
  const dir = tempDir();
  const env = {
    TM_DATA_DIR: dir,
    TM_INGRESS__CONFIG_PATH: join(dir, 'cloudflared.yml'),
    TM_DOCKER__ENABLED: 'false',
  };
  /** Looks at the database the way the daemon's MCP endpoint does. */
  const verify = async (token: string) => {
    const store = SqliteStateStore.open({ path: join(dir, 'state.db') });
    try {
      return await new ApiTokenService({ store, clock: new SystemClock() }).verify(token);
    } finally {
      await store.close();
    }
  };
  return { env, verify };
}

describe('tunnel token create | ls | revoke', () => {
  it('creates a project token shown once, lists it without its value, and revokes it at once', async () => {
    const { env, verify } = setup();
    const created = await runInProcess(['token', 'create', '--project', 'shop', '--label', 'shop agent'], env);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^tmcp_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/✓ token tok_[0-9a-f]{16} for project:shop — shown once/);
    expect(await verify(token)).toMatchObject({ actor: { kind: 'project', project: 'shop' }, label: 'shop agent' });

    const listed = await runInProcess(['token', 'ls', '--json'], env);
    const { tokens } = JSON.parse(listed.stdout) as { tokens: Array<{ id: string; revokedAt: number | null }> };
    expect(tokens).toHaveLength(1);
    expect(listed.stdout).not.toContain(token);
    const id = tokens[0]?.id as string;
    const human = await runInProcess(['token', 'ls'], env);
    // LAST USED is set: the check above used the token.
    expect(human.stdout).toMatch(new RegExp(`${id}\\s+project:shop\\s+shop agent\\s+\\S+Z\\s+\\S+Z\\s+live`));

    const revoked = await runInProcess(['token', 'revoke', id], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`✓ revoked ${id} \\(project:shop, shop agent\\)`));
    expect(await verify(token)).toBeNull();
  });

  it('creates an admin token; --json gives the token and its record', async () => {
    const { env, verify } = setup();
    const created = await runInProcess(['token', 'create', '--admin', '--json'], env);
    const doc = JSON.parse(created.stdout) as { token: string; record: { actor: { kind: string } } };
    expect(doc.record.actor.kind).toBe('admin');
    expect((await verify(doc.token))?.actor.kind).toBe('admin');
  });

  it('refuses to guess whom a token is for: neither or both of --project/--admin is a usage error, nothing stored', async () => {
    const { env } = setup();
    for (const argv of [
      ['token', 'create'],
      ['token', 'create', '--project', 'shop', '--admin'],
    ]) {
      const { code, stderr } = await runInProcess(argv, env);
      expect(code, argv.join(' ')).toBe(EXIT_USAGE);
      expect(stderr.trim()).toBe(
        'error: give exactly one of --project <name> (a project agent) or --admin (every project).',
      );
    }
    const bad = await runInProcess(['token', 'create', '--project', 'Not A Name'], env);
    expect(bad.code).toBe(FAMILY_EXIT_CODES.input);
    expect(bad.stderr).toMatch(/\[INVALID_INPUT\]/);
    const listed = await runInProcess(['token', 'ls', '--json'], env);
    expect(JSON.parse(listed.stdout)).toEqual({ tokens: [] });
  });

  it('revoking an unknown token is NOT_FOUND (exit 3)', async () => {
    const { env } = setup();
    const { code, stderr } = await runInProcess(['token', 'revoke', 'tok_0000000000000000'], env);
    expect(code).toBe(FAMILY_EXIT_CODES.input);
    expect(stderr).toMatch(/\[NOT_FOUND\]/);
  });
});
