/**
 * Embedding Tunnel Manager in a Node program, the way supervisor-service does: build the
 * manager from the configuration, publish a hostname for a project, read the status, remove the
 * hostname again.
 *
 *   TUNNEL_CONFIG=/etc/tunnel-manager/config.yml node examples/dist/embed-core.js [project]
 *
 * Against the sandbox: `export TUNNEL_CONFIG=<data dir>/config.yml` as `tunnel sandbox` prints.
 */
import { Actor, createTunnelManager, isTunnelError, loadConfig } from '@tunnel/core';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { dockerPlugin } from '@tunnel/provider-docker';

// The file named by TUNNEL_CONFIG (or /etc/tunnel-manager/config.yml), then TM_* overrides.
const config = loadConfig();
// Client mode (the default): cloudflared restarts are queued for the daemon, which runs them.
const manager = createTunnelManager(config, { plugins: [cloudflarePlugin, dockerPlugin] });

try {
  // Each project acts as itself; it may only touch its own routes.
  const project = Actor.project(process.argv[2] ?? 'example-shop');

  // Zones the token can see, and whether this project may create names in them.
  const zones = await manager.listDomains(project);
  const zone = zones.find((z) => z.usable);
  if (!zone) throw new Error(`no usable zone: ${zones.map((z) => `${z.name} (${z.reason})`).join(', ')}`);

  // The manager decides how cloudflared reaches the service (here a port on the host; pass
  // `container` for a service in Docker) and refuses with a clear TunnelError when it cannot.
  const created = await manager.requestCname(project, {
    subdomain: `shop-${process.pid}`,
    domain: zone.name,
    service: { port: 3000 },
  });
  console.log(`${created.outcome} ${created.publicUrl} → ${created.target}`);
  console.log(`  why: ${created.targetReason}`);
  console.log(`  steps: ${created.steps.map((s) => s.step).join(', ')}`);

  const status = await manager.getStatus(project);
  console.log(`tunnel ${status.tunnel.status}; this project's routes: ${JSON.stringify(status.routes)}`);

  const listed = await manager.listCnames(project);
  console.log(`routes of ${Actor.describe(project)}: ${listed.map((r) => `${r.hostname} (${r.state})`).join(', ')}`);

  const removed = await manager.deleteCname(project, created.route.hostname);
  console.log(`removed ${removed.hostname} (${removed.route.state})`);
} catch (error) {
  // Every failure is a TunnelError with a stable code and a hint.
  if (isTunnelError(error)) console.error(`${error.code}: ${error.message}\nhint: ${error.hint}`);
  else console.error(error);
  process.exitCode = 1;
} finally {
  await manager.close();
}
