import type { CommandContext } from '../context.js';
import { createPinoLogger } from '../logging.js';
import type { SandboxOptions } from '../program.js';
import { type SandboxInfo, sandboxDataDir, sandboxPaths, startSandbox } from '../sandbox/sandbox.js';
import { shutdownSignal } from '../signals.js';

/** `tunnel sandbox`: everything on an emulated Cloudflare and a simulated cloudflared, until Ctrl-C. */
export async function sandbox(cx: CommandContext, opts: SandboxOptions): Promise<number> {
  const { out } = cx;
  const dataDir = sandboxDataDir(opts.dataDir);
  // The terminal gets the banner; the daemon's JSON log goes to a file in the data directory.
  const logger = createPinoLogger({
    level: 'info',
    destination: sandboxPaths(dataDir).daemonLog,
    base: { name: 'tunnel-manager' },
  });
  // In place before anything starts: a SIGTERM during the start-up wait (up to 30 s) must stop
  // what has been started, not kill the process and leave cloudflared running.
  const aborted = new AbortController();
  const signalled = shutdownSignal(() => process.exit(130));
  void signalled.then(() => aborted.abort());
  let started: Awaited<ReturnType<typeof startSandbox>>;
  try {
    started = await startSandbox({
      dataDir,
      ...(opts.port ? { port: opts.port } : {}),
      ...(opts.apiPort ? { apiPort: opts.apiPort } : {}),
      env: cx.io.env,
      logger,
      signal: aborted.signal,
    });
  } catch (error) {
    logger.error('sandbox start failed; everything it started is stopped', { error });
    throw error;
  }
  if (!aborted.signal.aborted) {
    if (out.json) out.data(started.info);
    else printBanner(cx, started.info);
    await signalled;
  }
  logger.info('sandbox stopping');
  if (!out.json) out.note('stopping the sandbox…');
  await started.stop();
  logger.info('sandbox stopped');
  if (!out.json) out.note('sandbox stopped');
  return 0;
}

function printBanner(cx: CommandContext, info: SandboxInfo): void {
  const { out } = cx;
  const { c } = out;
  // Run from the repository (`pnpm start`), the command is the workspace script.
  const tunnel = cx.io.env.npm_lifecycle_event !== undefined ? 'pnpm tunnel' : 'tunnel';
  const row = (label: string, value: string) => out.line(`  ${c.dim(label.padEnd(16))}${value}`);
  out.line(`${c.bold('Tunnel Manager sandbox is running')}${c.dim(` — emulated Cloudflare, ${info.cloudflared}`)}`);
  out.line();
  row('zones', info.zones.join(', '));
  row('tunnel', info.tunnelId);
  row('MCP endpoint', info.mcpUrl ?? c.dim('(off: mcp.http.enabled is false)'));
  if (info.demoToken)
    row('demo token', `${info.demoToken}  ${c.dim('(project "demo"; send as Authorization: Bearer)')}`);
  row('metrics', info.metricsUrl);
  row('Cloudflare API', `${info.apiUrl} ${c.dim('(emulated)')}`);
  row('data directory', info.dataDir);
  row('daemon log', info.daemonLog);
  out.line();
  out.line('Try, in another terminal:');
  out.line(`  ${c.cyan(`export TUNNEL_CONFIG=${info.configPath}`)}`);
  out.line(`  ${c.cyan(`${tunnel} cname add app.${info.zones[0] ?? 'example.com'} --port 8080`)}`);
  out.line(`  ${c.cyan(`${tunnel} cname ls`)}`);
  out.line(`  ${c.cyan(`${tunnel} status`)}`);
  out.line();
  out.line(c.dim('Ctrl-C stops it; the state stays in the data directory.'));
}
