import {
  createTunnelManagerContainer,
  NoopLogger,
  type ProviderPlugin,
  parseConfig,
  resolvePort,
  TOKENS,
  TunnelError,
} from '@tunnel/core';
import { InMemoryDnsProvider, ManualClock } from '@tunnel/testkit';
import { describe, expect, it } from 'vitest';
import { meteredPlugin, PeriodicJob } from '../src/index.js';

/** The instance these tests write as. */
const ME = 'vm-1';

describe('PeriodicJob (daemon timers, on the manual clock)', () => {
  it('runs every interval counted from the end of the previous run, one run at a time', async () => {
    const clock = new ManualClock();
    const runs: number[] = [];
    let release: (() => void) | null = null;
    const job = new PeriodicJob({
      name: 'zone refresh',
      clock,
      intervalMs: 1_000,
      logger: new NoopLogger(),
      run: async () => {
        runs.push(clock.now());
        if (runs.length === 2) await new Promise<void>((resolve) => (release = resolve));
      },
    });
    const t0 = clock.now();
    job.start(100);
    await clock.advance(100);
    expect(runs).toEqual([t0 + 100]);
    await clock.advance(1_000);
    expect(runs).toEqual([t0 + 100, t0 + 1_100]);
    // The second run is still going: nothing else starts, however long it takes.
    await clock.advance(5_000);
    expect(runs).toHaveLength(2);
    (release as unknown as () => void)();
    await clock.advance(0);
    await clock.advance(999);
    expect(runs).toHaveLength(2);
    await clock.advance(1);
    expect(runs).toEqual([t0 + 100, t0 + 1_100, t0 + 7_100]);
    await job.stop();
    await clock.advance(10_000);
    expect(runs).toHaveLength(3);
  });

  it('logs a failed run and keeps going', async () => {
    const clock = new ManualClock();
    const errors: unknown[] = [];
    const logger = {
      ...new NoopLogger(),
      error: (_m: string, f?: Record<string, unknown>) => errors.push(f?.error),
      child: () => logger,
    };
    let n = 0;
    const job = new PeriodicJob({
      name: 'reconcile plan',
      clock,
      intervalMs: 10,
      logger: logger as unknown as NoopLogger,
      run: async () => {
        n += 1;
        if (n === 1) throw new TunnelError('PROVIDER_UNAVAILABLE', 'down', { hint: 'h' });
      },
    });
    job.start(10);
    await clock.advance(10);
    await clock.advance(10);
    expect(n).toBe(2);
    expect(errors).toHaveLength(1);
    await job.stop();
  });

  it('stop() waits for the run in flight', async () => {
    const clock = new ManualClock();
    let finished = false;
    let release: (() => void) | null = null;
    const job = new PeriodicJob({
      name: 'j',
      clock,
      intervalMs: 10,
      logger: new NoopLogger(),
      run: async () => {
        await new Promise<void>((resolve) => (release = resolve));
        finished = true;
      },
    });
    job.start(0);
    await clock.advance(0);
    const stopped = job.stop().then(() => finished);
    (release as unknown as () => void)();
    expect(await stopped).toBe(true);
  });
});

describe('meteredPlugin', () => {
  it('reports each DnsProvider call with its outcome, and the container resolves the wrapped port', async () => {
    const dns = new InMemoryDnsProvider([{ id: 'z1', name: 'example.com', status: 'active', accountId: null }]);
    const plugin: ProviderPlugin = {
      name: 'fake',
      register(container) {
        container.register(TOKENS.DnsProvider, { useValue: dns });
      },
    };
    const calls: Array<[string, string, string]> = [];
    const container = createTunnelManagerContainer(parseConfig({ dataDir: '/tmp/unused' }), {
      plugins: [meteredPlugin(plugin, (provider, method, outcome) => calls.push([provider, method, outcome]))],
    });
    const port = resolvePort(container, 'DnsProvider');
    expect(port).toBe(resolvePort(container, 'DnsProvider'));
    expect(await port.listZones()).toHaveLength(1);
    const created = await port.createCname('z1', {
      name: 'a.example.com',
      target: 't.cfargotunnel.com',
      owner: 'shop',
      instance: ME,
    });
    await expect(port.deleteRecord('z1', 'no-such-record')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(created.owner).toBe('shop');
    expect(calls).toEqual([
      ['fake', 'listZones', 'ok'],
      ['fake', 'createCname', 'ok'],
      ['fake', 'deleteRecord', 'NOT_FOUND'],
    ]);
    // The wrapped provider changed the real one: the record is there.
    expect(await dns.listRecords('z1', { name: 'a.example.com' })).toHaveLength(1);
  });
});
