import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryDnsProvider } from '@tunnel/testkit';
import { describe, expect, it } from 'vitest';
import {
  createTunnelManagerContainer,
  isTunnelError,
  type ProviderPlugin,
  parseConfig,
  resolvePort,
  SqliteStateStore,
  SystemClock,
  TOKENS,
} from '../src/index.js';

const config = () => parseConfig({ dataDir: mkdtempSync(join(tmpdir(), 'tm-di-')) });

describe('composition root', () => {
  it('registers the embedded defaults lazily and as singletons', async () => {
    const c = createTunnelManagerContainer(config());
    expect(resolvePort(c, 'Clock')).toBeInstanceOf(SystemClock);
    const store = resolvePort(c, 'StateStore');
    expect(store).toBeInstanceOf(SqliteStateStore);
    expect(resolvePort(c, 'StateStore')).toBe(store);
    await store.close();
  });

  it('registers plugins after the defaults and overrides last', () => {
    const dns = new InMemoryDnsProvider();
    const seen: string[] = [];
    const plugin: ProviderPlugin = {
      name: 'fake-dns',
      register(container, cfg) {
        seen.push(cfg.dataDir);
        container.register(TOKENS.DnsProvider, { useValue: new InMemoryDnsProvider() });
      },
    };
    const cfg = config();
    const c = createTunnelManagerContainer(cfg, { plugins: [plugin], overrides: { DnsProvider: dns } });
    expect(seen).toEqual([cfg.dataDir]);
    expect(resolvePort(c, 'DnsProvider')).toBe(dns);
  });

  it('explains which plugin is missing instead of a tsyringe stack', () => {
    const c = createTunnelManagerContainer(config());
    try {
      resolvePort(c, 'DnsProvider');
      throw new Error('expected CONFIG_INVALID');
    } catch (error) {
      expect(isTunnelError(error, 'CONFIG_INVALID')).toBe(true);
      expect((error as { hint: string }).hint).toContain('@tunnel/provider-cloudflare');
    }
  });

  it('keeps containers apart', () => {
    const a = createTunnelManagerContainer(config(), { overrides: { DnsProvider: new InMemoryDnsProvider() } });
    const b = createTunnelManagerContainer(config());
    expect(a.isRegistered(TOKENS.DnsProvider, true)).toBe(true);
    expect(b.isRegistered(TOKENS.DnsProvider, true)).toBe(false);
  });
});
