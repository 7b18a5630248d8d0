import { z } from 'zod';
import { alertsSchema } from '../alerts/config.js';
import { deriveInstanceId, INSTANCE_ID_PATTERN, MAX_INSTANCE_ID_LENGTH } from '../domain/instance.js';
import { Secret } from '../runtime/secret.js';

/*
 * The one configuration schema. Every key has a default (except credentials and ids that only
 * the operator knows), a description (the README's configuration reference is generated from
 * these), and bounds. Durations are milliseconds, sizes bytes.
 */

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const ms = (min: number, max: number) => int(min, max);

/** cloudflared's tunnel ids and Cloudflare account ids. */
const TUNNEL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

const cloudflareSchema = z
  .strictObject({
    apiToken: z
      .string()
      .min(1)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .transform((value) => new Secret(value))
      .optional()
      .describe(
        'Cloudflare API token. Prefer `apiTokenFile` or the env var `TM_CLOUDFLARE__API_TOKEN` / `CLOUDFLARE_API_TOKEN`. Never logged.',
      ),
    apiTokenFile: z
      .string()
      .min(1)
      .optional()
      .describe('Path of a file holding the API token (read at start; mode 0600 recommended).'),
    accountId: z
      .string()
      .regex(ACCOUNT_ID, 'must be a 32-character hex Cloudflare account id')
      .optional()
      .describe('Cloudflare account id that owns the tunnel.'),
    tunnelId: z
      .string()
      .regex(TUNNEL_ID, 'must be a tunnel UUID')
      .optional()
      .describe('The tunnel id (UUID); CNAMEs point at `<tunnelId>.cfargotunnel.com`.'),
    baseUrl: z.url().optional().describe('API base URL. Set only for the emulator/sandbox; defaults to the real API.'),
    maxRetries: int(0, 10)
      .default(2)
      .describe('Retries of idempotent reads on connection errors and 5xx (429s wait for the request budget instead).'),
    timeoutMs: ms(100, 300_000).default(30_000).describe('Timeout of one API request.'),
    requestsPerFiveMinutes: int(1, 1200)
      .default(1000)
      .describe('Request budget per 5 minutes (Cloudflare allows 1,200; keep headroom).'),
    batchLimit: int(1, 3500).default(200).describe('Changes per DNS batch call (200 on free zones, 3,500 on paid).'),
    zoneRefreshIntervalMs: ms(10_000, 86_400_000).default(900_000).describe('How often the daemon re-discovers zones.'),
  })
  .describe('Cloudflare API access.');

const ingressSchema = z
  .strictObject({
    mode: z
      .enum(['local', 'remote'])
      .default('local')
      .describe(
        '`local`: rules live in cloudflared `config.yml` (needs a restart to apply). `remote`: in the tunnel configuration at Cloudflare (applied live).',
      ),
    configPath: z
      .string()
      .min(1)
      .default('/etc/cloudflared/config.yml')
      .describe('cloudflared config file (local mode).'),
    backups: int(0, 1000).default(20).describe('How many previous versions of the file to keep.'),
    backupDir: z.string().min(1).optional().describe('Where backups go. @default `<dataDir>/ingress-backups`'),
    lockStaleMs: ms(1_000, 600_000)
      .default(10_000)
      .describe('A file lock not refreshed for this long belongs to a dead process.'),
  })
  .describe('Where the ingress rules live.');

const cloudflaredSchema = z
  .strictObject({
    controller: z
      .enum(['systemd', 'child', 'docker', 'none'])
      .default('systemd')
      .describe(
        'How cloudflared is run: a systemd unit, a child of the daemon, a Docker container, or not managed (monitor only).',
      ),
    metricsUrl: z
      .url()
      .optional()
      .describe('cloudflared metrics server, e.g. `http://127.0.0.1:20241`. @default discovered on ports 20241–20245'),
    gracePeriodMs: ms(0, 600_000)
      .default(30_000)
      .describe('SIGTERM grace period before a forced kill (cloudflared `--grace-period`).'),
    noAutoupdate: z
      .boolean()
      .default(true)
      .describe(
        "Run cloudflared with `--no-autoupdate` (added to `child.args` unless they set `--no-autoupdate` or `--autoupdate-freq`), so it never replaces its own binary and restarts behind the manager's back. `systemd`: `cloudflared service install` writes it into the unit; `docker`: cloudflared's image has it in its entrypoint. Set false to let cloudflared update itself.",
      ),
    systemd: z
      .strictObject({
        unit: z
          .string()
          .regex(/^[a-zA-Z0-9@._-]+$/, 'must be a systemd unit name')
          .default('cloudflared.service')
          .describe('The unit running cloudflared (`cloudflared.controller: systemd`).'),
        systemctlPath: z.string().min(1).default('systemctl').describe('The systemctl executable.'),
      })
      .prefault({}),
    child: z
      .strictObject({
        command: z.string().min(1).default('cloudflared').describe('The cloudflared executable.'),
        args: z
          .array(z.string())
          .optional()
          .describe(
            'Arguments (each replica gets its own `--metrics` port; `--grace-period` and `--no-autoupdate` are added unless set). @default `tunnel --config <ingress.configPath> --metrics 127.0.0.1:20241 run`',
          ),
        replicas: int(1, 8)
          .default(2)
          .describe(
            'cloudflared processes running the same tunnel. Two (or more) are restarted one at a time, so a config change never takes the tunnel down; one means a short outage per change.',
          ),
        pidFile: z
          .string()
          .min(1)
          .optional()
          .describe(
            'Records the supervised processes, so a restarted daemon adopts them. @default `<dataDir>/cloudflared.pid`',
          ),
        logFile: z
          .string()
          .min(1)
          .optional()
          .describe("cloudflared's output (replica N logs to `<name>-N<ext>`). @default `<dataDir>/cloudflared.log`"),
        logMaxBytes: int(1024, 1024 ** 3)
          .default(10 * 1024 ** 2)
          .describe('A log file is rotated at this size.'),
        logFiles: int(1, 100).default(3).describe('Rotated log files kept.'),
        stopOnExit: z.boolean().default(false).describe('Stop the supervised cloudflared when the daemon exits.'),
      })
      .prefault({}),
    docker: z
      .strictObject({
        container: z
          .string()
          .regex(CONTAINER_NAME, 'must be a Docker container name')
          .default('cloudflared')
          .describe('The container running cloudflared (`cloudflared.controller: docker`).'),
      })
      .prefault({}),
  })
  .describe('The cloudflared process.');

const healthSchema = z.strictObject({
  intervalMs: ms(100, 3_600_000).default(30_000).describe('Time between health checks.'),
  readyTimeoutMs: ms(50, 60_000).default(5_000).describe('Timeout of the `/ready` request.'),
  strikes: int(1, 100).default(3).describe('Consecutive failed checks that mean "down".'),
  retentionDays: int(1, 3650).default(7).describe('Raw health samples are kept this long.'),
});

const restartSchema = z.strictObject({
  initialBackoffMs: ms(100, 3_600_000)
    .default(5_000)
    .describe('Wait before the second restart attempt in a row; it doubles after each failed attempt.'),
  maxBackoffMs: ms(100, 86_400_000).default(300_000).describe('The longest wait between restart attempts.'),
  jitterRatio: z.number().min(0).max(1).default(0.1).describe('± share of each wait.'),
  healthyResetMs: ms(1_000, 86_400_000).default(600_000).describe('Healthy for this long resets the backoff.'),
  startTimeoutMs: ms(1_000, 3_600_000)
    .default(60_000)
    .describe('A restarted tunnel not ready within this long counts as a failed attempt.'),
  coalesceWindowMs: ms(0, 600_000).default(2_000).describe('Config changes within this window cause one restart.'),
  waitForRestart: z
    .boolean()
    .default(true)
    .describe(
      'CNAME calls return when the rule is live (true) or with `restartPending`. Without a running daemon (no health check for two intervals) they return at once, pending.',
    ),
  waitTimeoutMs: ms(0, 600_000)
    .default(10_000)
    .describe(
      'A CNAME call waits at most this long for its restart, then answers `restartPending` (the stored change is applied by the restart). It answers at once when the tunnel is down or the restart failed.',
    ),
});

const dockerSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe('Services may run in Docker containers (else every target is a port on the host).'),
  socketPath: z.string().min(1).default('/var/run/docker.sock').describe("The Docker engine's Unix socket."),
  cloudflaredContainer: z
    .string()
    .regex(CONTAINER_NAME, 'must be a Docker container name')
    .optional()
    .describe('Name of the container running cloudflared, when it is one.'),
  cloudflaredLabel: z
    .string()
    .min(1)
    .optional()
    .describe('A label (`key` or `key=value`) that marks the cloudflared container.'),
  snapshotTtlMs: ms(0, 3_600_000)
    .default(30_000)
    .describe(
      'How long a Docker topology snapshot is reused (Docker events refresh it sooner). A bound on work only: the container asked for is rechecked against the engine, and a refusal is given only after a fresh snapshot.',
    ),
  ownershipGuard: z
    .boolean()
    .default(false)
    .describe('Projects may only target containers labelled `tunnel.project=<project>`.'),
  labels: z
    .strictObject({
      enabled: z
        .boolean()
        .default(false)
        .describe(
          'The daemon publishes containers labelled `tunnel.hostname`, `tunnel.port` and `tunnel.project` (optional `tunnel.scheme`, `tunnel.path`, `tunnel.origin.<setting>`).',
        ),
      gracePeriodMs: ms(0, 7 * 86_400_000)
        .default(600_000)
        .describe(
          'How long a route (hostname and path) stays published after its last container is removed (a redeploy or restart never drops DNS). Stopped containers keep theirs.',
        ),
      projects: z
        .array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a project name'))
        .default([])
        .describe('Projects labels may publish for. Empty: any project that holds a live API token or a route.'),
    })
    .prefault({})
    .describe('Publishing from container labels (DockFlare-style).'),
});

const policySchema = z.strictObject({
  quotaPerProject: int(0, 100_000).default(20).describe('Routes one project may hold.'),
  denyList: z
    .array(z.string().min(1))
    .default([])
    .describe('Hostnames (or `*.zone` patterns) projects may never take.'),
  defaultDomain: z.string().min(1).optional().describe('Zone used when a request gives a subdomain without a domain.'),
  wildcardZones: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Zones in which projects may take wildcard names (`*.team.example.com`, never `*.<zone>` itself). Admins may always.',
    ),
  caPoolDirs: z
    .array(z.string().startsWith('/'))
    .default([])
    .describe(
      'Absolute directories a route’s `originRequest.caPool` file may be in (cloudflared must read it at the same path).',
    ),
});

const reconcileSchema = z.strictObject({
  intervalMs: ms(10_000, 86_400_000).default(600_000).describe('How often the daemon plans a reconciliation.'),
  autoApply: z.boolean().default(false).describe('The daemon applies plans (else only reports).'),
  deleteThresholdPercent: int(0, 100)
    .default(30)
    .describe('Plans deleting more than this share of managed routes need `force`.'),
  deleteThresholdMin: int(0, 100_000).default(10).describe('…but deleting up to this many never needs `force`.'),
});

const locksSchema = z.strictObject({
  mutationTimeoutMs: ms(100, 600_000).default(30_000).describe('How long a mutation waits for the cross-process lock.'),
  staleMs: ms(1_000, 600_000)
    .default(10_000)
    .describe('A mutation lock not refreshed for this long belongs to a dead process and is taken over.'),
});

const httpListen = (port: number) =>
  z.strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('Address to listen on (`127.0.0.1`: this VM only).'),
    port: int(0, 65_535).default(port).describe('Port to listen on (0: any free port).'),
  });

const mcpSchema = z.strictObject({
  http: httpListen(8787)
    .extend({
      enabled: z.boolean().default(true).describe('Serve MCP over Streamable HTTP (bearer tokens per project).'),
      path: z.string().startsWith('/').default('/mcp').describe('The URL path of the MCP endpoint.'),
    })
    .prefault({}),
  rateLimitPerMinute: int(1, 100_000).default(120).describe('Tool calls per token per minute.'),
});

const daemonSchema = z.strictObject({
  http: httpListen(9180).prefault({}).describe('`/healthz` and `/metrics`.'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe("The daemon's log level."),
});

export const configSchema = z.strictObject({
  dataDir: z
    .string()
    .min(1)
    .default('/var/lib/tunnel-manager')
    .describe('State directory: database, backups, pid and log files.'),
  database: z
    .strictObject({
      path: z.string().min(1).optional().describe('The SQLite state database. @default `<dataDir>/state.db`'),
      busyTimeoutMs: ms(0, 600_000)
        .default(5_000)
        .describe('How long a write waits for another process holding the database write lock.'),
    })
    .prefault({}),
  instance: z
    .strictObject({
      id: z
        .string()
        .regex(
          INSTANCE_ID_PATTERN,
          `must be 1–${MAX_INSTANCE_ID_LENGTH} characters of a–z, 0–9 and "-" (not at either end)`,
        )
        .optional()
        .describe(
          "This manager's instance id, written in the mark on every DNS record and ingress rule it makes, so several VMs can share a zone without touching each other's records. Set it before the first route, and never to another VM's id. @default the first 12 hex digits of `cloudflare.tunnelId`",
        ),
    })
    .prefault({})
    .describe('Which Tunnel Manager this is, among several on one zone.'),
  cloudflare: cloudflareSchema.prefault({}),
  ingress: ingressSchema.prefault({}),
  cloudflared: cloudflaredSchema.prefault({}),
  health: healthSchema.prefault({}),
  restart: restartSchema.prefault({}),
  docker: dockerSchema.prefault({}),
  policy: policySchema.prefault({}),
  reconcile: reconcileSchema.prefault({}),
  locks: locksSchema.prefault({}),
  audit: z
    .strictObject({
      retentionDays: int(1, 36_500).default(365).describe('Audit entries are kept this long (the daemon prunes them).'),
    })
    .prefault({}),
  mcp: mcpSchema.prefault({}),
  daemon: daemonSchema.prefault({}),
  alerts: alertsSchema.prefault({}),
});

/** The configuration as a user writes it (every key optional). */
export type TunnelConfigInput = z.input<typeof configSchema>;

/** Paths the loader fills in from `dataDir` when the user left them out. */
interface ResolvedPaths {
  database: { path: string };
  ingress: { backupDir: string };
  cloudflared: { child: { pidFile: string; logFile: string } };
}

type Parsed = z.output<typeof configSchema>;

/** The validated configuration, with every default and derived path filled in. */
export type TunnelConfig = Parsed & {
  database: Parsed['database'] & ResolvedPaths['database'];
  ingress: Parsed['ingress'] & ResolvedPaths['ingress'];
  cloudflared: Parsed['cloudflared'] & {
    child: Parsed['cloudflared']['child'] & ResolvedPaths['cloudflared']['child'];
  };
};

/** This manager's instance id: `instance.id`, else derived from the tunnel id; null with neither. */
export function instanceIdOf(config: Pick<TunnelConfig, 'instance' | 'cloudflare'>): string | null {
  if (config.instance.id) return config.instance.id;
  return config.cloudflare.tunnelId ? deriveInstanceId(config.cloudflare.tunnelId) : null;
}
