/**
 * `@tunnel/provider-cloudflare` on its own, as a DnsProvider: list zones, create a proxied
 * CNAME carrying an owner mark, find it again among the marked records, delete it. No
 * TunnelManager, no database, no cloudflared.
 *
 *   CLOUDFLARE_API_TOKEN=… [CLOUDFLARE_BASE_URL=http://127.0.0.1:PORT/client/v4] \
 *     node examples/dist/dns-provider-only.js [target]
 */
import { isTunnelError, Secret } from '@tunnel/core';
import { CloudflareApi, CloudflareDnsProvider } from '@tunnel/provider-cloudflare';

/** The instance these tests write as. */
const ME = 'vm-1';

const token = process.env.CLOUDFLARE_API_TOKEN;
if (!token) {
  console.error('Set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_BASE_URL for the sandbox emulator).');
  process.exit(2);
}

// One API client: a request budget under Cloudflare's rate limit, retries of reads, error mapping.
const api = new CloudflareApi({ apiToken: new Secret(token), baseUrl: process.env.CLOUDFLARE_BASE_URL });
const dns = new CloudflareDnsProvider(api);

try {
  const zones = await dns.listZones();
  console.log(`zones: ${zones.map((z) => `${z.name} (${z.status})`).join(', ')}`);
  const zone = zones.find((z) => z.status === 'active');
  if (!zone) throw new Error('the token sees no active zone');

  const target = process.argv[2] ?? 'c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01.cfargotunnel.com';
  const record = await dns.createCname(zone.id, {
    name: `dns-example-${process.pid}.${zone.name}`,
    target,
    owner: 'dns-example',
    instance: ME,
  });
  console.log(
    `created ${record.type} ${record.name} → ${record.content} (proxied: ${record.proxied}, owner: ${record.owner})`,
  );

  // The owner mark in the comment is how a DnsProvider tells its records from everyone else's.
  const ours = await dns.listRecords(zone.id, { managedOnly: true, name: record.name });
  console.log(`marked records named ${record.name}: ${ours.length}`);

  await dns.deleteRecord(zone.id, record.id);
  const left = await dns.listRecords(zone.id, { name: record.name });
  console.log(`deleted; records left under that name: ${left.length}`);
} catch (error) {
  if (isTunnelError(error)) console.error(`${error.code}: ${error.message}\nhint: ${error.hint}`);
  else console.error(error);
  process.exitCode = 1;
}
