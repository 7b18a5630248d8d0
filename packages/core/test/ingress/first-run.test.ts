import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type IngressListCreated,
  IngressManager,
  ingressConfigState,
  isTunnelError,
  LocalFileIngressStore,
  NoopLogger,
  parseConfigFile,
  type TunnelError,
} from '../../src/index.js';
import { tempDirs } from './helpers.js';

const ME = 'vm-1';

/** What `cloudflared tunnel create` leaves, plus the operator's comments. */
const BARE = `# written after \`cloudflared tunnel create vm\`
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef   # the tunnel's id
credentials-file: /etc/cloudflared/6ff42ae2-765d-4adf-8112-31c55c1551ef.json
# metrics for the watchdog
metrics: 127.0.0.1:20241
`;

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

function world(text: string) {
  const dir = dirs.make();
  const path = join(dir, 'config.yml');
  writeFileSync(path, text);
  const store = new LocalFileIngressStore({ path, backupDir: join(dir, 'backups') });
  const created: IngressListCreated[] = [];
  const ingress = new IngressManager(store, new ManualClock(), new NoopLogger(), {
    onListCreated: (event) => {
      created.push(event);
    },
  });
  return { path, store, ingress, created, text: () => readFileSync(path, 'utf8') };
}

async function failure(promise: Promise<unknown>): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a TunnelError');
}

describe('first run: a config.yml without ingress rules', () => {
  it('reads as no rules (cloudflared runs it), not as an invalid file', async () => {
    const w = world(BARE);
    const snapshot = await w.store.read();
    expect(snapshot.rules).toEqual([]);
    expect(ingressConfigState(parseConfigFile(BARE))).toBe('no-ingress');
  });

  it('the first managed rule creates the list with a catch-all, keeping every other key and comment, and says so', async () => {
    const w = world(BARE);
    const result = await w.ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://localhost:8080',
      owner: 'alpha',
      instance: ME,
    });
    expect(result).toMatchObject({ changed: true, createdList: true, ruleNumber: 1 });
    const after = w.text();
    // Every byte of the file as it was is still there, first.
    expect(after.startsWith(BARE)).toBe(true);
    const parsed = parseConfigFile(after);
    expect(parsed.errors).toEqual([]);
    expect(parsed.rules).toEqual([
      { hostname: 'app.example.com', service: 'http://localhost:8080', managed: { owner: 'alpha', instance: ME } },
      { service: 'http_status:404' },
    ]);
    expect(w.created).toEqual([
      { hostname: 'app.example.com', owner: 'alpha', catchAll: 'http_status:404', version: result.version },
    ]);
    // A second rule goes before the catch-all and creates nothing.
    const second = await w.ingress.upsertManagedRule({
      hostname: 'api.example.com',
      service: 'http://localhost:9090',
      owner: 'alpha',
      instance: ME,
    });
    expect(second.createdList).toBeUndefined();
    expect(w.created).toHaveLength(1);
    expect(parseConfigFile(w.text()).rules.map((r) => r.hostname ?? r.service)).toEqual([
      'app.example.com',
      'api.example.com',
      'http_status:404',
    ]);
  });

  it('the last delete leaves the catch-all (a valid file cloudflared serves 404 from)', async () => {
    const w = world(BARE);
    await w.ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://localhost:8080',
      owner: 'a',
      instance: ME,
    });
    const removed = await w.ingress.removeManagedRule('app.example.com', { instance: ME });
    expect(removed.changed).toBe(true);
    const parsed = parseConfigFile(w.text());
    expect(parsed.errors).toEqual([]);
    expect(parsed.rules).toEqual([{ service: 'http_status:404' }]);
    expect(w.text().startsWith(BARE)).toBe(true);
    expect(ingressConfigState(parsed)).toBe('valid');
  });

  it.each([
    ['an empty `ingress:`', `${BARE}ingress:\n`],
    ['`ingress: []`', `${BARE}ingress: []\n`],
    ['an empty file', ''],
  ])('treats %s the same way', async (_, text) => {
    const w = world(text);
    expect((await w.store.read()).rules).toEqual([]);
    await w.ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://localhost:8080',
      owner: 'a',
      instance: ME,
    });
    const parsed = parseConfigFile(w.text());
    expect(parsed.errors).toEqual([]);
    expect(parsed.rules.map((r) => r.service)).toEqual(['http://localhost:8080', 'http_status:404']);
    if (text.includes('tunnel:')) expect(w.text()).toContain("# the tunnel's id");
  });

  it('still refuses a file with other problems, with a hint that names no library option', async () => {
    const w = world(`${BARE}ingress:\n  - hostname: a.example.com\n    service: http://localhost:1\n`);
    expect(ingressConfigState(parseConfigFile(w.text()))).toBe('invalid');
    const before = w.text();
    const error = await failure(
      w.ingress.upsertManagedRule({
        hostname: 'b.example.com',
        service: 'http://localhost:2',
        owner: 'a',
        instance: ME,
      }),
    );
    expect(error.code).toBe('INGRESS_INVALID');
    expect(error.hint).not.toMatch(/repair|\{/);
    expect(w.text()).toBe(before);
  });

  it('reports a missing file with a hint that names no library option', async () => {
    const dir = dirs.make();
    const store = new LocalFileIngressStore({ path: join(dir, 'nope.yml'), backupDir: join(dir, 'b') });
    const error = await failure(store.read());
    expect(error.code).toBe('INGRESS_INVALID');
    expect(error.hint).not.toMatch(/repair|\{/);
    expect(error.hint).toContain('credentials-file');
  });
});
