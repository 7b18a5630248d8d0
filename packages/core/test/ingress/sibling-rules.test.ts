import { InMemoryIngressStore, ManualClock } from '@tunnel/testkit';
import { describe, expect, it } from 'vitest';
import { IngressManager, type IngressRule, isTunnelError, NoopLogger, type TunnelError } from '../../src/index.js';

/*
 * Rules in this instance's ingress that another instance marked (a copied config.yml) are not
 * ours: never updated or removed, and a request for their hostname is HOSTNAME_TAKEN naming the
 * instance. Legacy-marked rules are ours, and `upgradeLegacyMarks` gives them the new mark.
 */

const ME = 'vm-a';
const SIBLING: IngressRule = {
  hostname: 'copied.example.com',
  service: 'http://localhost:1',
  managed: { owner: 'shop', instance: 'vm-b' },
};
const LEGACY: IngressRule = { hostname: 'old.example.com', service: 'http://localhost:2', managed: { owner: 'shop' } };
const CATCH_ALL: IngressRule = { service: 'http_status:404' };

function manager() {
  const store = new InMemoryIngressStore([SIBLING, LEGACY, CATCH_ALL]);
  return { store, ingress: new IngressManager(store, new ManualClock(), new NoopLogger()) };
}

describe('rules of another instance', () => {
  it('are never taken over or removed', async () => {
    const { store, ingress } = manager();
    const before = await store.read();
    const error = await ingress
      .upsertManagedRule({ hostname: 'copied.example.com', service: 'http://localhost:9', owner: 'shop', instance: ME })
      .catch((e: unknown) => e as TunnelError);
    expect(isTunnelError(error, 'HOSTNAME_TAKEN')).toBe(true);
    expect((error as TunnelError).message).toContain('instance "vm-b"');
    expect((error as TunnelError).details).toMatchObject({ instance: 'vm-b' });
    expect(await ingress.removeManagedRule('copied.example.com', { instance: ME })).toMatchObject({ changed: false });
    expect(await store.read()).toEqual(before);
  });

  it('legacy rules are ours: updated in place with the new mark, or upgraded all at once', async () => {
    const { store, ingress } = manager();
    const upgraded = await ingress.upgradeLegacyMarks(ME);
    expect(upgraded).toMatchObject({ changed: true, upgraded: ['old.example.com'] });
    expect((await store.read()).rules).toEqual([
      SIBLING,
      { ...LEGACY, managed: { owner: 'shop', instance: ME } },
      CATCH_ALL,
    ]);
    expect((await ingress.upgradeLegacyMarks(ME)).changed).toBe(false);

    const other = manager();
    await other.ingress.upsertManagedRule({
      hostname: 'old.example.com',
      service: 'http://localhost:3',
      owner: 'shop',
      instance: ME,
    });
    expect((await other.store.read()).rules[1]).toEqual({
      hostname: 'old.example.com',
      service: 'http://localhost:3',
      managed: { owner: 'shop', instance: ME },
    });
  });
});
