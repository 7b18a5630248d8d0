import { readFileSync } from 'node:fs';
import type { RouteState, ServiceScheme } from '@tunnel/core';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from './context.js';
import { renderExitCodes } from './exit-codes.js';

/*
 * The command tree. This module and what it imports statically are all `tunnel --help` loads:
 * commander, the exit-code table, and nothing of core, the providers or the MCP SDK. Each
 * action imports its command module when it runs.
 */

/** Runs a command's body and turns its result or error into the exit code. */
export type ActionRunner = (
  command: Command,
  body: (cx: CommandContext) => Promise<number | undefined>,
) => Promise<void>;

const VERSION = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** `--port`: a TCP port. */
export function parsePortOption(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > 65_535) {
    throw new InvalidArgumentError(`expected a port from 1 to 65535, got ${JSON.stringify(raw)}.`);
  }
  return Number(raw);
}

/** `--limit`: a positive count. */
export function parseCountOption(raw: string): number {
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1) {
    throw new InvalidArgumentError(`expected a whole number ≥ 1, got ${JSON.stringify(raw)}.`);
  }
  return Number(raw);
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: `30m`, `12h`, `7d` before now, or an ISO date/time. Returns epoch ms. */
export function parseSinceOption(raw: string, now = Date.now()): number {
  const relative = /^(\d{1,6})([smhdw])$/.exec(raw);
  if (relative) return now - Number(relative[1]) * (UNIT_MS[relative[2] as string] as number);
  if (/^\d{4}-\d{2}-\d{2}/.test(raw)) {
    const at = Date.parse(raw);
    if (Number.isFinite(at)) return at;
  }
  throw new InvalidArgumentError(
    `expected a duration before now (30m, 12h, 7d) or an ISO date (2026-01-31T12:00:00Z), got ${JSON.stringify(raw)}.`,
  );
}

// Copies of core's SERVICE_SCHEMES and ROUTE_STATES: importing core's values here would load all
// of core for `tunnel --help`. The types keep them in core's vocabulary; a test keeps them equal.
export const SCHEMES: readonly ServiceScheme[] = ['http', 'https', 'tcp', 'ssh'];
export const ROUTE_STATES: readonly RouteState[] = [
  'reserved',
  'ingress_written',
  'dns_created',
  'active',
  'deleting',
  'dns_deleted',
  'ingress_removed',
  'deleted',
  'failed',
];

/**
 * Builds the `tunnel` program. `run` executes an action body (the entry point supplies the
 * one that reports errors and sets the exit code); `configure` sets output and exit handling.
 */
export function buildProgram(run: ActionRunner, configure?: (program: Command) => void): Command {
  const program = new Command('tunnel');
  // Subcommands copy these settings when they are created, so they go first.
  configure?.(program);
  program
    .description(
      "Keeps this VM's Cloudflare Tunnel (cloudflared) healthy and lets its projects publish hostnames through it.",
    )
    .version(VERSION, '-V, --version', 'print the version')
    .option('-c, --config <file>', 'configuration file (default: $TUNNEL_CONFIG, else /etc/tunnel-manager/config.yml)')
    .option('--json', 'machine output: one JSON document on stdout (errors as {"error": {...}})')
    .option('--no-color', 'no colours even on a terminal (also: NO_COLOR=1)')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      'after',
      `
Quick start (no Cloudflare account needed):
  tunnel sandbox                      run the manager on an emulated Cloudflare and a simulated cloudflared
  tunnel init > config.yml            a commented configuration with every key
  tunnel doctor                       check every prerequisite and print the fix for each problem

Exit codes:
${renderExitCodes()}

The configuration reference, the token permissions and the security model are in the README.`,
    );

  const action = (body: (cx: CommandContext, ...args: never[]) => Promise<number | undefined>) =>
    async function (this: Command, ...args: unknown[]) {
      await run(this, (cx) => body(cx, ...(args.slice(0, -1) as never[])));
    };

  // --- operating the tunnel ---
  program
    .command('status')
    .description('tunnel health, the last restart, routes by state, domains (from the database; no network)')
    .action(action(async (cx) => (await import('./commands/status.js')).status(cx)));

  const cname = program.command('cname').description('publish hostnames: add, remove and list CNAME routes');
  cname
    .command('add')
    .description('publish <hostname> → a service on this VM (creates the ingress rule and the proxied CNAME)')
    .argument('<hostname>', 'the full hostname, e.g. app.example.com')
    .requiredOption('-p, --port <port>', 'the port the service listens on', parsePortOption)
    .option('--container <name>', 'the Docker container serving it (else a port on the host)')
    .addOption(new Option('--scheme <scheme>', 'how cloudflared talks to the service').choices(SCHEMES).default('http'))
    .option('--path <regex>', "only requests whose path matches this RE2 regex, e.g. '^/api/' (one route per path)")
    .option('--from-path <regex>', "re-target: move the route at this path ('' = the path-less one) to --path")
    .option('--no-tls-verify', 'origin: do not verify the origin TLS certificate (self-signed HTTPS origin)')
    .option('--origin-server-name <name>', 'origin: the name its TLS certificate is checked against')
    .option('--match-sni-to-host', 'origin: send the request Host as SNI')
    .option('--ca-pool <file>', 'origin: PEM CA file, in a directory policy.caPoolDirs allows')
    .option('--http-host-header <host>', 'origin: the Host header sent to the origin')
    .option('--http2-origin', 'origin: speak HTTP/2 to the origin')
    .option('--disable-chunked-encoding', 'origin: disable chunked transfer encoding')
    .option('--no-happy-eyeballs', 'origin: disable IPv4/IPv6 fallback when dialling')
    .option('--connect-timeout <duration>', "origin: TCP connect timeout, whole seconds, e.g. '10s'")
    .option('--tls-timeout <duration>', "origin: TLS handshake timeout, e.g. '10s'")
    .option('--tcp-keep-alive <duration>', "origin: TCP keep-alive period, e.g. '30s'")
    .option('--keep-alive-timeout <duration>', "origin: idle keep-alive timeout, e.g. '90s'")
    .option('--keep-alive-connections <n>', 'origin: most idle keep-alive connections', parseCountOption)
    .option('--project <name>', 'create it on behalf of this project (default: admin)')
    .option(
      '--adopt',
      'take over a DNS record the manager did not create (replaces it; `rm --restore-replaced` puts it back)',
    )
    .option(
      '--from-instance <id>',
      'with --adopt: also take the name from this other Tunnel Manager instance (moves it to this VM)',
    )
    .option('--dry-run', 'print the plan and change nothing')
    .addHelpText(
      'after',
      `
Examples:
  tunnel cname add app.example.com --port 3000
  tunnel cname add app.example.com --path '^/api/' --port 9000 --container api
  tunnel cname add admin.example.com --port 8443 --scheme https --no-tls-verify --connect-timeout 30s
  tunnel cname add app.example.com --from-path '^/api/' --path '^/v2/' --port 9000   (re-target in place)
  tunnel cname add '*.team.example.com' --port 3000   (a DNS wildcard; exact names keep their own rules)

Without origin flags the route has no origin settings (a re-request without them clears them).`,
    )
    .action(
      action(async (cx, hostname: string, opts: CnameAddOptions) =>
        (await import('./commands/cname.js')).cnameAdd(cx, hostname, opts),
      ),
    );
  cname
    .command('rm')
    .alias('remove')
    .description('unpublish <hostname>: delete its CNAME and ingress rule')
    .argument('<hostname>', 'the hostname to remove')
    .option('--path <regex>', 'remove only the route at this path (the DNS record stays while other paths remain)')
    .option('--restore-replaced', 'put back the DNS records `--adopt` replaced when it was created')
    .action(
      action(async (cx, hostname: string, opts: CnameRemoveOptions) =>
        (await import('./commands/cname.js')).cnameRemove(cx, hostname, opts),
      ),
    );
  cname
    .command('ls')
    .alias('list')
    .description('list routes (every state but deleted)')
    .option('--project <name>', 'only this project')
    .addOption(new Option('--state <state...>', 'only these states').choices(ROUTE_STATES))
    .option('--zone <zone>', 'only this zone')
    .action(action(async (cx, opts: CnameListOptions) => (await import('./commands/cname.js')).cnameList(cx, opts)));

  program
    .command('domains')
    .description('the zones the API token can see')
    .command('ls')
    .alias('list')
    .description('list zones and whether routes can be created in them')
    .option('--refresh', 'ask Cloudflare again (else the zones discovered last)')
    .action(
      action(async (cx, opts: { refresh?: boolean }) => (await import('./commands/domains.js')).domainsList(cx, opts)),
    );

  const ingress = program.command('ingress').description("cloudflared's ingress rules");
  ingress
    .command('show')
    .description('the rules in order, with the owner of each managed rule')
    .action(action(async (cx) => (await import('./commands/ingress.js')).ingressShow(cx)));
  ingress
    .command('validate')
    .description("check the rules with cloudflared's own rules (the configured store, or a config.yml file)")
    .argument('[file]', 'a cloudflared config.yml to check instead of the configured one')
    .action(
      action(async (cx, file: string | undefined) => (await import('./commands/ingress.js')).ingressValidate(cx, file)),
    );
  ingress
    .command('rule')
    .description('which rule serves <url>, as `cloudflared tunnel ingress rule` decides it (rule numbers from 0)')
    .argument('<url>', 'e.g. https://app.example.com/api')
    .action(action(async (cx, url: string) => (await import('./commands/ingress.js')).ingressRule(cx, url)));
  ingress
    .command('backups')
    .description('previous versions of the rules, newest first')
    .action(action(async (cx) => (await import('./commands/ingress.js')).ingressBackups(cx)));
  ingress
    .command('restore')
    .description('write a backup back as the current rules (itself backed up; cloudflared is restarted)')
    .argument('<id>', 'a backup id from `tunnel ingress backups`')
    .action(action(async (cx, id: string) => (await import('./commands/ingress.js')).ingressRestore(cx, id)));

  program
    .command('reconcile')
    .description('compare database, DNS and ingress; print the changes that would make them agree')
    .option('--apply', 'make the changes')
    .option('--force', 'apply even when the plan deletes more than the safety threshold')
    .action(
      action(async (cx, opts: { apply?: boolean; force?: boolean }) =>
        (await import('./commands/reconcile.js')).reconcile(cx, opts),
      ),
    );

  program
    .command('audit')
    .description('the audit log, newest first')
    .option('--project <name>', 'only this project')
    .option('--since <when>', 'only entries since 30m, 12h, 7d ago, or an ISO date', (raw) => parseSinceOption(raw))
    .option('--action <action>', 'only this action, e.g. cname.request')
    .option('--actor <actor>', 'only this actor, e.g. project:shop')
    .option('--target <hostname>', 'only this target')
    .option('--limit <n>', 'at most this many entries', parseCountOption, 100)
    .action(action(async (cx, opts: AuditOptions) => (await import('./commands/audit.js')).audit(cx, opts)));

  const token = program.command('token').description('bearer tokens for the MCP HTTP endpoint');
  token
    .command('create')
    .description('create a token (printed once; only its hash is stored)')
    .option('--project <name>', 'the project the token acts as')
    .option('--admin', 'an admin token (may act for every project)')
    .option('--label <text>', 'what it is for', '')
    .action(
      action(async (cx, opts: TokenCreateOptions) => (await import('./commands/token.js')).tokenCreate(cx, opts)),
    );
  token
    .command('ls')
    .alias('list')
    .description('list tokens (never their values)')
    .action(action(async (cx) => (await import('./commands/token.js')).tokenList(cx)));
  token
    .command('revoke')
    .description('revoke a token at once')
    .argument('<id>', 'the token id from `tunnel token ls`')
    .action(action(async (cx, id: string) => (await import('./commands/token.js')).tokenRevoke(cx, id)));

  program
    .command('mcp')
    .description('serve MCP over stdio for one project (for an agent that starts its own server)')
    .option('--project <name>', 'the project this server acts for (default: $TUNNEL_PROJECT)')
    .option('--admin', 'act as admin (only for the operator)')
    .action(action(async (cx, opts: McpOptions) => (await import('./commands/mcp.js')).mcp(cx, opts)));

  // --- running it ---
  program
    .command('daemon')
    .description('the long-running job: health checks and restarts, zone refresh, reconcile, MCP over HTTP, /metrics')
    .action(action(async (cx) => (await import('./commands/daemon.js')).daemon(cx)));
  program
    .command('sandbox')
    .description('run everything on an emulated Cloudflare (two zones, a tunnel) and a simulated cloudflared')
    .option('--data-dir <dir>', 'keep its state here (default: a new temporary directory)')
    .option(
      '--port <port>',
      'port of the MCP endpoint, /metrics and /healthz (default: any free port)',
      parsePortOption,
    )
    .option('--api-port <port>', 'port of the emulated Cloudflare API (default: any free port)', parsePortOption)
    .action(action(async (cx, opts: SandboxOptions) => (await import('./commands/sandbox.js')).sandbox(cx, opts)));
  program
    .command('init')
    .description('write a commented configuration file with every key, its default and its meaning')
    .argument('[file]', 'where to write it (default: stdout)')
    .option('--force', 'overwrite an existing file')
    .action(
      action(async (cx, file: string | undefined, opts: { force?: boolean }) =>
        (await import('./commands/init.js')).init(cx, file, opts),
      ),
    );
  program
    .command('doctor')
    .description('check every prerequisite and print ✓ or ✗ with the fix')
    .action(action(async (cx) => (await import('./commands/doctor.js')).doctor(cx)));
  const alerts = program.command('alerts').description('alerts to webhooks (alerts.webhooks)');
  alerts
    .command('test')
    .description('send a test alert to every configured webhook and report each delivery')
    .action(action(async (cx) => (await import('./commands/alerts.js')).alertsTest(cx)));

  return program;
}

export interface CnameAddOptions {
  readonly port: number;
  readonly container?: string;
  readonly scheme: string;
  readonly project?: string;
  readonly adopt?: boolean;
  readonly fromInstance?: string;
  readonly dryRun?: boolean;
  readonly path?: string;
  readonly fromPath?: string;
  /** false with --no-tls-verify (commander's negatable option). */
  readonly tlsVerify?: boolean;
  readonly originServerName?: string;
  readonly matchSniToHost?: boolean;
  readonly caPool?: string;
  readonly httpHostHeader?: string;
  readonly http2Origin?: boolean;
  readonly disableChunkedEncoding?: boolean;
  /** false with --no-happy-eyeballs. */
  readonly happyEyeballs?: boolean;
  readonly connectTimeout?: string;
  readonly tlsTimeout?: string;
  readonly tcpKeepAlive?: string;
  readonly keepAliveTimeout?: string;
  readonly keepAliveConnections?: number;
}

export interface CnameRemoveOptions {
  readonly path?: string;
  readonly restoreReplaced?: boolean;
}

export interface CnameListOptions {
  readonly project?: string;
  readonly state?: string[];
  readonly zone?: string;
}

export interface AuditOptions {
  readonly project?: string;
  readonly since?: number;
  readonly action?: string;
  readonly actor?: string;
  readonly target?: string;
  readonly limit: number;
}

export interface TokenCreateOptions {
  readonly project?: string;
  readonly admin?: boolean;
  readonly label: string;
}

export interface McpOptions {
  readonly project?: string;
  readonly admin?: boolean;
}

export interface SandboxOptions {
  readonly dataDir?: string;
  readonly port?: number;
  readonly apiPort?: number;
}
