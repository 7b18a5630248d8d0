import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import {
  autoupdateDisabled,
  createTunnelManagerContainer,
  ingressConfigState,
  inspectTunnelCredentials,
  LATEST_SCHEMA_VERSION,
  loadConfig,
  type ProcessController,
  type ProcessStatus,
  parseConfigFile,
  resolvePort,
  SqliteStateStore,
  TOKENS,
  type TunnelConfig,
  TunnelReadiness,
  toTunnelError,
  type Zone,
} from '@tunnel/core';
import type { CommandContext } from '../context.js';
import { EXIT_FAILURE } from '../exit-codes.js';
import { loadProviderPlugins } from '../plugins.js';
import { replicaCheck } from './doctor-replicas.js';

/**
 * One prerequisite and what was found. `skip`: not applicable, or it depends on one that failed.
 * `warn`: works, but not as well as it could (does not fail the command).
 */
export interface DoctorCheck {
  readonly id: string;
  readonly title: string;
  readonly status: 'ok' | 'warn' | 'fail' | 'skip';
  readonly detail: string;
  /** What to do, for a failure or a warning. */
  readonly fix: string | null;
}

const ok = (id: string, title: string, detail: string): DoctorCheck => ({ id, title, status: 'ok', detail, fix: null });
const fail = (id: string, title: string, detail: string, fix: string): DoctorCheck => ({
  id,
  title,
  status: 'fail',
  detail,
  fix,
});
const skip = (id: string, title: string, detail: string): DoctorCheck => ({
  id,
  title,
  status: 'skip',
  detail,
  fix: null,
});

function failFrom(id: string, title: string, error: unknown): DoctorCheck {
  const e = toTunnelError(error);
  return fail(id, title, `${e.message} [${e.code}]`, e.hint);
}

/** Where `command` resolves on PATH (or itself, when it has a slash), if it is an executable file. */
function findExecutable(command: string, env: Readonly<Record<string, string | undefined>>): string | null {
  const candidates = command.includes('/')
    ? [command]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

/**
 * Runs every check: configuration, database, API token and each permission it needs, the
 * tunnel and its `config_src`, cloudflared (found, then `/ready`), Docker, the ingress file.
 * A check that depends on a failed one is skipped, so one broken prerequisite shows as one ✗.
 */
export async function runDoctorChecks(cx: Pick<CommandContext, 'globals' | 'io'>): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const env = cx.io.env;
  const file = cx.globals.config ?? env.TUNNEL_CONFIG;

  // --- configuration ---
  let config: TunnelConfig;
  try {
    config = loadConfig({ env, ...(cx.globals.config ? { file: cx.globals.config } : {}) });
    checks.push(ok('config', 'configuration', file ? `${file} is valid` : 'no file: defaults and TM_* variables'));
  } catch (error) {
    checks.push(failFrom('config', 'configuration', error));
    for (const [id, title] of [
      ['database', 'database'],
      ['token', 'Cloudflare API token'],
      ['tunnel', 'tunnel'],
      ['cloudflared', 'cloudflared'],
      ['docker', 'Docker'],
      ['credentials', 'tunnel credentials'],
      ['ingress', 'ingress rules'],
    ] as const) {
      checks.push(skip(id, title, 'needs a valid configuration'));
    }
    return checks;
  }

  // --- database ---
  try {
    const store = SqliteStateStore.open({ path: config.database.path, busyTimeoutMs: config.database.busyTimeoutMs });
    await store.routes.countByState();
    await store.close();
    checks.push(ok('database', 'database', `${config.database.path} opens (schema v${LATEST_SCHEMA_VERSION})`));
  } catch (error) {
    const e = toTunnelError(error);
    const code = (e.cause as NodeJS.ErrnoException | undefined)?.code;
    checks.push(
      fail(
        'database',
        'database',
        `${config.database.path}: ${e.message} [${e.code}]`,
        code === 'EACCES' || code === 'ENOENT'
          ? `Create ${dirname(config.database.path)} and let the daemon's user write it (set dataDir or database.path to move it).`
          : e.hint,
      ),
    );
  }

  // --- Cloudflare: token, permissions, tunnel ---
  const provider = await import('@tunnel/provider-cloudflare');
  const PERMISSIONS = provider.PERMISSIONS;
  let tokenWorks = false;
  let api: InstanceType<typeof provider.CloudflareApi> | null = null;
  try {
    api = provider.createCloudflareApi({ ...config, cloudflare: { ...config.cloudflare, maxRetries: 0 } });
    await api.call(
      { action: 'verify the API token', permission: PERMISSIONS.zoneRead, subject: 'none' },
      (client) => client.user.tokens.verify(),
      { idempotent: true },
    );
    tokenWorks = true;
    checks.push(
      ok('token', 'Cloudflare API token', `accepted by ${config.cloudflare.baseUrl ?? provider.DEFAULT_BASE_URL}`),
    );
  } catch (error) {
    checks.push(failFrom('token', 'Cloudflare API token', error));
  }
  const permission = (name: string) => `permission ${name}`;
  let zones: Zone[] = [];
  if (tokenWorks && api) {
    const dns = new provider.CloudflareDnsProvider(api, { batchLimit: config.cloudflare.batchLimit });
    try {
      zones = await dns.listZones();
      checks.push(
        zones.length > 0
          ? ok(
              'perm.zone-read',
              permission(PERMISSIONS.zoneRead),
              `${zones.length} zones: ${zones.map((z) => z.name).join(', ')}`,
            )
          : fail(
              'perm.zone-read',
              permission(PERMISSIONS.zoneRead),
              'the token sees no zone',
              'Edit the token in the Cloudflare dashboard: add the zones to its Zone Resources.',
            ),
      );
    } catch (error) {
      checks.push(failFrom('perm.zone-read', permission(PERMISSIONS.zoneRead), error));
    }
    const first = zones[0];
    if (first) {
      try {
        await dns.listRecords(first.id, { type: 'CNAME' });
        checks.push(ok('perm.dns-read', permission(PERMISSIONS.dnsRead), `records of ${first.name} readable`));
      } catch (error) {
        checks.push(failFrom('perm.dns-read', permission(PERMISSIONS.dnsRead), error));
      }
      try {
        // An empty batch needs the edit permission and changes nothing.
        await api.call(
          {
            action: `check DNS edit access on ${first.name}`,
            permission: PERMISSIONS.dnsEdit,
            subject: 'zone',
            subjectId: first.id,
          },
          (client) => client.dns.records.batch({ zone_id: first.id, deletes: [], posts: [] }),
          { idempotent: true },
        );
        checks.push(ok('perm.dns-edit', permission(PERMISSIONS.dnsEdit), `records of ${first.name} editable`));
      } catch (error) {
        checks.push(failFrom('perm.dns-edit', permission(PERMISSIONS.dnsEdit), error));
      }
    } else {
      checks.push(skip('perm.dns-read', permission(PERMISSIONS.dnsRead), 'needs a zone'));
      checks.push(skip('perm.dns-edit', permission(PERMISSIONS.dnsEdit), 'needs a zone'));
    }
  } else {
    for (const [id, name] of [
      ['perm.zone-read', PERMISSIONS.zoneRead],
      ['perm.dns-read', PERMISSIONS.dnsRead],
      ['perm.dns-edit', PERMISSIONS.dnsEdit],
    ] as const) {
      checks.push(skip(id, permission(name), 'needs a working API token'));
    }
  }
  const { accountId, tunnelId } = config.cloudflare;
  if (!accountId || !tunnelId) {
    checks.push(
      fail(
        'tunnel',
        'tunnel',
        `${[accountId ? null : 'cloudflare.accountId', tunnelId ? null : 'cloudflare.tunnelId'].filter(Boolean).join(' and ')} not set`,
        'Set them in the config file (`cloudflared tunnel list` shows the tunnel id; the account id is in the dashboard URL).',
      ),
    );
  } else if (!tokenWorks || !api) {
    checks.push(skip('tunnel', 'tunnel', 'needs a working API token'));
  } else {
    try {
      const tunnel = await new provider.CloudflareTunnelStatus(api, { accountId, tunnelId }).getTunnel();
      const wanted = config.ingress.mode === 'local' ? 'local' : 'cloudflare';
      checks.push(ok('perm.tunnel-read', `permission ${PERMISSIONS.tunnelRead}`, `tunnel ${tunnel.name} readable`));
      checks.push(
        tunnel.configSource === wanted
          ? ok(
              'tunnel',
              'tunnel',
              `${tunnel.name} (${tunnelId}): ${tunnel.status}, config_src ${tunnel.configSource} matches ingress.mode ${config.ingress.mode}`,
            )
          : fail(
              'tunnel',
              'tunnel',
              `${tunnel.name} has config_src ${tunnel.configSource}, but ingress.mode is ${config.ingress.mode}`,
              wanted === 'local'
                ? 'A remotely-managed tunnel ignores config.yml: set ingress.mode: remote, or migrate the tunnel to local configuration.'
                : 'A locally-managed tunnel ignores the remote configuration: set ingress.mode: local, or migrate the tunnel to remote configuration in the dashboard.',
            ),
      );
    } catch (error) {
      const e = toTunnelError(error);
      if (e.code === 'AUTH_FAILED')
        checks.push(failFrom('perm.tunnel-read', `permission ${PERMISSIONS.tunnelRead}`, e));
      else checks.push(failFrom('tunnel', 'tunnel', e));
    }
  }
  if (config.ingress.mode === 'remote') {
    checks.push(
      skip(
        'perm.tunnel-edit',
        `permission ${PERMISSIONS.tunnelEdit}`,
        'needed in remote mode; it cannot be checked without changing the configuration (the first write will tell)',
      ),
    );
  }

  // --- cloudflared ---
  checks.push(...(await cloudflaredChecks(config, env)));
  checks.push(replicaCheck(config));

  // --- Docker ---
  if (!config.docker.enabled) checks.push(skip('docker', 'Docker', 'docker.enabled is false'));
  else {
    const { DockerEngine, describeDockerFailure } = await import('@tunnel/provider-docker');
    const engine = new DockerEngine({ socketPath: config.docker.socketPath, requestTimeoutMs: 5_000 });
    try {
      const { apiVersion } = await engine.connect();
      checks.push(ok('docker', 'Docker', `engine at ${config.docker.socketPath} answers (API ${apiVersion})`));
    } catch (error) {
      const failure = describeDockerFailure(error, engine);
      checks.push(
        fail(
          'docker',
          'Docker',
          failure.reason,
          failure.scope === 'process'
            ? `Let the daemon's user use ${config.docker.socketPath} (e.g. add it to the docker group).`
            : `Start Docker, or set docker.socketPath; set docker.enabled: false if services run on the host only.`,
        ),
      );
    }
  }

  // --- ingress ---
  checks.push(credentialsCheck(config));
  checks.push(await ingressCheck(config));
  return checks;
}

/** Local mode: the credentials cloudflared's config.yml would start it with. */
function credentialsCheck(config: TunnelConfig): DoctorCheck {
  const title = 'tunnel credentials';
  if (config.ingress.mode === 'remote') {
    return skip('credentials', title, 'remote mode: cloudflared runs from a tunnel token, not config.yml');
  }
  const path = config.ingress.configPath;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return skip('credentials', title, `needs cloudflared's config (${path})`);
  }
  const report = inspectTunnelCredentials(text, { configPath: path });
  if (!report.ok) return fail('credentials', title, report.detail, report.fix);
  return ok(
    'credentials',
    title,
    `${report.path}: tunnel ${report.tunnelId}${report.found === 'searched' ? ' (found where cloudflared searches; naming it with credentials-file is clearer)' : ''}`,
  );
}

async function cloudflaredChecks(
  config: TunnelConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<DoctorCheck[]> {
  const kind = config.cloudflared.controller;
  let controller: ProcessController | null = null;
  const checks: DoctorCheck[] = [];
  if (kind === 'child') {
    const command = config.cloudflared.child.command;
    const found = findExecutable(command, env);
    if (!found) {
      return [
        fail(
          'cloudflared',
          'cloudflared found',
          `${command} is not an executable file${command.includes('/') ? '' : ' on PATH'}`,
          'Install cloudflared (https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/) or set cloudflared.child.command to its full path.',
        ),
        skip('cloudflared.ready', 'cloudflared ready', 'needs cloudflared'),
      ];
    }
    checks.push(ok('cloudflared', 'cloudflared found', found));
  }
  try {
    const plugins = kind === 'docker' ? await loadProviderPlugins(config, { docker: true }) : [];
    const container = createTunnelManagerContainer(config, {
      plugins: plugins.filter((p) => p.name === 'docker'),
    });
    controller = container.isRegistered(TOKENS.ProcessController as never, true)
      ? resolvePort(container, 'ProcessController')
      : null;
  } catch (error) {
    return [...checks, failFrom('cloudflared', 'cloudflared found', error)];
  }
  const status = controller ? await controller.status().catch(() => null) : null;
  if (kind !== 'child') {
    if (controller && (!status || status.state === 'unknown')) {
      checks.push(
        fail(
          'cloudflared',
          'cloudflared found',
          `the ${kind} controller cannot tell whether cloudflared runs${status?.detail ? `: ${status.detail}` : ''}`,
          kind === 'systemd'
            ? `Check \`systemctl status ${config.cloudflared.systemd.unit}\` (cloudflared.systemd.unit).`
            : `Check \`docker ps -a --filter name=${config.cloudflared.docker.container}\` (cloudflared.docker.container).`,
        ),
      );
      checks.push(skip('cloudflared.ready', 'cloudflared ready', 'needs cloudflared'));
      return checks;
    }
    checks.push(
      ok(
        'cloudflared',
        'cloudflared found',
        controller ? `${kind}: ${status?.state}` : 'not managed (controller none)',
      ),
    );
  }
  if (status && status.state !== 'running') {
    checks.push(
      fail(
        'cloudflared.ready',
        'cloudflared ready',
        `cloudflared is ${status.state}${status.detail ? ` (${status.detail})` : ''}`,
        kind === 'child'
          ? 'Start the daemon (`tunnel daemon`, or `systemctl start tunnel-manager`): it starts cloudflared.'
          : kind === 'systemd'
            ? `Start it: \`systemctl start ${config.cloudflared.systemd.unit}\`.`
            : `Start it: \`docker start ${config.cloudflared.docker.container}\`.`,
      ),
    );
    return checks;
  }
  checks.push(autoupdateCheck(config, status));
  const readiness = new TunnelReadiness({
    metricsUrl: config.cloudflared.metricsUrl,
    timeoutMs: config.health.readyTimeoutMs,
  });
  const results = await readiness.check(status);
  const failed = results.filter((r) => !r.ok);
  checks.push(
    results.length > 0 && failed.length === 0
      ? ok(
          'cloudflared.ready',
          'cloudflared ready',
          results.map((r) => `${r.metricsUrl}/ready: ${r.readyConnections ?? '?'} connections`).join('; '),
        )
      : fail(
          'cloudflared.ready',
          'cloudflared ready',
          failed.map((r) => r.error ?? `${r.metricsUrl}/ready failed`).join('; ') || 'no metrics server found',
          config.cloudflared.metricsUrl
            ? 'cloudflared runs but has no edge connection: check its log and the network (outbound 7844).'
            : 'Run cloudflared with --metrics 127.0.0.1:20241, or set cloudflared.metricsUrl.',
        ),
  );
  return checks;
}

/**
 * Whether the running cloudflared has auto-update off, read from its command line in /proc: the
 * same check for a child of the daemon, a systemd unit and a container (its processes are
 * visible from the host).
 */
function autoupdateCheck(config: TunnelConfig, status: ProcessStatus | null): DoctorCheck {
  const id = 'cloudflared.autoupdate';
  const title = 'cloudflared auto-update';
  if (!config.cloudflared.noAutoupdate) return skip(id, title, 'cloudflared.noAutoupdate is false');
  const pids = (status?.replicas?.map((r) => r.pid) ?? [status?.pid ?? null]).filter((p): p is number => p !== null);
  if (pids.length === 0) return skip(id, title, 'no running cloudflared process to look at');
  const updating: number[] = [];
  for (const pid of pids) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      return skip(id, title, `cannot read the command line of process ${pid}`);
    }
    if (!autoupdateDisabled(args)) updating.push(pid);
  }
  if (updating.length === 0)
    return ok(id, title, `off (--no-autoupdate) in ${pids.length === 1 ? 'process' : 'processes'} ${pids.join(', ')}`);
  const kind = config.cloudflared.controller;
  return fail(
    id,
    title,
    `cloudflared (process ${updating.join(', ')}) runs without --no-autoupdate: it replaces its own binary and restarts once a day, behind the manager's back`,
    kind === 'systemd'
      ? `Add --no-autoupdate to the unit's ExecStart (\`systemctl edit --full ${config.cloudflared.systemd.unit}\`), then restart it; or set cloudflared.noAutoupdate: false to accept updates.`
      : kind === 'docker'
        ? `Recreate the container ${config.cloudflared.docker.container} with --no-autoupdate (cloudflared's image has it in its entrypoint; a custom entrypoint drops it); or set cloudflared.noAutoupdate: false.`
        : 'Restart cloudflared through the daemon (it passes --no-autoupdate), or set cloudflared.noAutoupdate: false to accept updates.',
  );
}

async function ingressCheck(config: TunnelConfig): Promise<DoctorCheck> {
  const title = 'ingress rules';
  if (config.ingress.mode === 'remote') {
    try {
      const plugins = await loadProviderPlugins(config, { docker: false });
      const container = createTunnelManagerContainer(config, { plugins });
      const snapshot = await resolvePort(container, 'IngressStore').read();
      return ok(
        'ingress',
        title,
        snapshot.rules.length === 0
          ? `no ingress yet: the remote configuration has no rules (version ${snapshot.version}); cloudflared answers 503 to every request until the first route creates them with a catch-all`
          : `valid: remote configuration, ${snapshot.rules.length} rules (version ${snapshot.version})`,
      );
    } catch (error) {
      return failFrom('ingress', title, error);
    }
  }
  const path = config.ingress.configPath;
  if (!existsSync(path)) {
    return fail(
      'ingress',
      title,
      `${path} does not exist`,
      "Create cloudflared's config.yml there (with `tunnel:` and a catch-all rule), or set ingress.configPath.",
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return fail(
      'ingress',
      title,
      `${path} cannot be read (${(error as NodeJS.ErrnoException).code})`,
      `Let the daemon's user read and write ${path}.`,
    );
  }
  const parsed = parseConfigFile(text);
  const state = ingressConfigState(parsed);
  const first = state === 'invalid' ? parsed.errors[0] : undefined;
  if (first) {
    const where = first.line === undefined ? '' : ` (line ${first.line})`;
    return fail(
      'ingress',
      title,
      `invalid: ${path}: ${first.message}${where}${parsed.errors.length > 1 ? ` and ${parsed.errors.length - 1} more` : ''}`,
      'Fix the file (`tunnel ingress validate` lists every problem) or restore a backup (`tunnel ingress backups`).',
    );
  }
  for (const target of [path, dirname(path), config.ingress.backupDir]) {
    if (target === config.ingress.backupDir && !existsSync(target)) continue;
    try {
      accessSync(target, constants.W_OK);
    } catch {
      return fail(
        'ingress',
        title,
        `${target} is not writable by this user`,
        `Let the daemon's user write ${target} (the file is replaced atomically, so its directory too).`,
      );
    }
  }
  return ok(
    'ingress',
    title,
    state === 'no-ingress'
      ? `no ingress yet: ${path} has no rules (as \`cloudflared tunnel create\` leaves it), writable; cloudflared answers 503 to every request until the first route creates the list with a catch-all`
      : `valid: ${path}, ${parsed.rules.length} rules, writable`,
  );
}

/** `tunnel doctor` */
export async function doctor(cx: CommandContext): Promise<number> {
  const checks = await runDoctorChecks(cx);
  const failed = checks.filter((c) => c.status === 'fail');
  const { out } = cx;
  if (out.json) out.data({ ok: failed.length === 0, checks });
  else {
    const width = Math.max(...checks.map((c) => c.title.length));
    for (const check of checks) {
      const mark =
        check.status === 'ok'
          ? out.c.green('✓')
          : check.status === 'fail'
            ? out.c.red('✗')
            : check.status === 'warn'
              ? out.c.yellow('!')
              : out.c.dim('–');
      const detail = check.status === 'skip' ? out.c.dim(`skipped: ${check.detail}`) : check.detail;
      out.line(`${mark} ${check.title.padEnd(width)}  ${detail}`);
      if (check.fix) out.line(`  ${' '.repeat(width)}  ${out.c.yellow('fix:')} ${check.fix}`);
    }
    out.line();
    out.line(
      failed.length === 0
        ? out.c.green('Everything checked is in order.')
        : out.c.red(`${failed.length} problem${failed.length === 1 ? '' : 's'} found.`),
    );
  }
  return failed.length === 0 ? 0 : EXIT_FAILURE;
}
