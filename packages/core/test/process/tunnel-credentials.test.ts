import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTunnelCredentials } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectTunnelCredentials } from '../../src/index.js';

const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const OTHER_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tm-creds-'));
  dirs.push(d);
  return d;
};
const inspect = (text: string, searchDirs: string[] = []) =>
  inspectTunnelCredentials(text, { configPath: '/etc/cloudflared/config.yml', searchDirs });

describe('inspectTunnelCredentials (what cloudflared would start with)', () => {
  it('accepts the credentials file the config names, for its tunnel, and never returns the secret', () => {
    const d = dir();
    const path = join(d, `${TUNNEL_ID}.json`);
    const written = writeTunnelCredentials(path, TUNNEL_ID);
    const report = inspect(`tunnel: ${TUNNEL_ID}\ncredentials-file: ${path}\n`);
    expect(report).toEqual({ ok: true, path, tunnelId: TUNNEL_ID, found: 'named' });
    expect(JSON.stringify(report)).not.toContain(written.TunnelSecret);
  });

  it("finds <tunnel id>.json where cloudflared searches when the config names none; else cloudflared's 'not found'", () => {
    const d = dir();
    writeTunnelCredentials(join(d, `${TUNNEL_ID}.json`), TUNNEL_ID);
    expect(inspect(`tunnel: ${TUNNEL_ID}\n`, [d])).toMatchObject({ ok: true, found: 'searched' });
    const missing = inspect(`tunnel: ${TUNNEL_ID}\n`, [dir()]);
    expect(missing).toMatchObject({ ok: false, problem: 'not-found' });
    expect(missing.ok ? '' : missing.detail).toContain('tunnel credentials file not found');
    expect(missing.ok ? '' : missing.fix).toContain('credentials-file:');
  });

  it('names each problem with its fix: no tunnel, a missing file, not a credentials file, another tunnel’s', () => {
    const d = dir();
    expect(inspect('credentials-file: /x.json\n')).toMatchObject({ ok: false, problem: 'no-tunnel' });
    expect(inspect(`tunnel: ${TUNNEL_ID}\ncredentials-file: ${join(d, 'nope.json')}\n`)).toMatchObject({
      ok: false,
      problem: 'missing',
      detail: expect.stringContaining("doesn't exist or is not a file"),
    });
    const pem = join(d, 'cert.pem');
    writeFileSync(pem, '-----BEGIN ARGO TUNNEL TOKEN-----\n');
    expect(inspect(`tunnel: ${TUNNEL_ID}\ncredentials-file: ${pem}\n`)).toMatchObject({
      ok: false,
      problem: 'invalid',
      detail: expect.stringContaining('Invalid JSON when parsing tunnel credentials file'),
    });
    const other = join(d, 'other.json');
    writeTunnelCredentials(other, OTHER_ID);
    const mismatch = inspect(`tunnel: ${TUNNEL_ID}\ncredentials-file: ${other}\n`);
    expect(mismatch).toMatchObject({ ok: false, problem: 'tunnel-mismatch' });
    expect(mismatch.ok ? '' : mismatch.detail).toMatch(new RegExp(`tunnel ${OTHER_ID}.*runs tunnel ${TUNNEL_ID}`));
    expect(mismatch.ok ? '' : mismatch.fix).toContain(`cloudflared tunnel token --cred-file <path> ${TUNNEL_ID}`);
  });
});
