import { describe, expect, it } from 'vitest';
import { InMemoryDnsProvider } from '../src/index.js';

/** The instance these tests write as. */
const ME = 'vm-1';

describe('InMemoryDnsProvider specifics', () => {
  it('keeps a batch all-or-nothing: a failing create undoes the deletes before it', async () => {
    const dns = new InMemoryDnsProvider([{ id: 'z', name: 'example.com', status: 'active', accountId: null }]);
    const mine = await dns.createCname('z', {
      name: 'a.example.com',
      target: 't.cfargotunnel.com',
      owner: 'alpha',
      instance: ME,
    });
    dns.seedRecord('z', { type: 'A', name: 'b.example.com', content: '192.0.2.1' });
    await expect(
      dns.applyBatch('z', {
        deletes: [mine.id],
        creates: [{ name: 'b.example.com', target: 't.cfargotunnel.com', owner: 'alpha', instance: ME }],
      }),
    ).rejects.toMatchObject({ code: 'RECORD_CONFLICT' });
    expect(
      dns
        .records('z')
        .map((r) => r.name)
        .sort(),
    ).toEqual(['a.example.com', 'b.example.com']);
  });

  it('answers ZONE_NOT_FOUND for an unknown zone', async () => {
    const dns = new InMemoryDnsProvider();
    await expect(dns.listRecords('nope')).rejects.toMatchObject({ code: 'ZONE_NOT_FOUND' });
  });
});
