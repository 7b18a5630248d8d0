import { readFileSync } from 'node:fs';
import {
  type IngressProblem,
  type IngressRule,
  type IngressSnapshot,
  isTunnelError,
  matchIngressRule,
  type NewAuditEntry,
  parseConfigFile,
  RestartCoordinator,
  resolvePort,
  TunnelError,
} from '@tunnel/core';
import type { CommandContext } from '../context.js';
import { exitCodeForFamily } from '../exit-codes.js';
import { formatTime } from '../output.js';
import { openIngressStore, openStore } from './shared.js';

/** A rule as `--json` prints it: its position both ways cloudflared counts, and its owner. */
function ruleJson(rule: IngressRule, index: number) {
  return {
    index,
    ruleNumber: index + 1,
    hostname: rule.hostname ?? null,
    path: rule.path ?? null,
    service: rule.service,
    owner: rule.managed?.owner ?? null,
    ...(rule.originRequest ? { originRequest: rule.originRequest } : {}),
  };
}

/** `tunnel ingress show` */
export async function ingressShow(cx: CommandContext): Promise<number> {
  const { config, ingress } = await openIngressStore(cx);
  const snapshot = await ingress.read();
  const { out } = cx;
  if (out.json) {
    out.data({
      source: config.ingress.mode === 'local' ? config.ingress.configPath : `tunnel ${config.cloudflare.tunnelId}`,
      version: snapshot.version,
      rules: snapshot.rules.map(ruleJson),
      warnings: snapshot.warnings,
    });
    return 0;
  }
  out.line(
    out.c.dim(
      `${config.ingress.mode === 'local' ? config.ingress.configPath : `remote configuration of tunnel ${config.cloudflare.tunnelId}`} — ${snapshot.rules.length} rules`,
    ),
  );
  if (snapshot.rules.length === 0) {
    // A first run: what `cloudflared tunnel create` leaves, or a remote configuration at version 0.
    out.line(
      'No ingress rules yet: cloudflared answers 503 to every request. The first route (`tunnel cname add`) creates the list with its rule and a catch-all (http_status:404).',
    );
    for (const warning of snapshot.warnings) out.note(`${out.c.yellow('warning')}: ${warning}`);
    return 0;
  }
  out.table(
    [
      { header: '#', align: 'right' },
      { header: 'HOSTNAME' },
      { header: 'PATH' },
      { header: 'SERVICE' },
      { header: 'OWNER' },
    ],
    snapshot.rules.map((rule, i) => [
      String(i + 1),
      rule.hostname ?? out.c.dim('(catch-all)'),
      rule.path ?? '',
      rule.service,
      rule.managed ? rule.managed.owner : out.c.dim('-'),
    ]),
  );
  for (const warning of snapshot.warnings) out.note(`${out.c.yellow('warning')}: ${warning}`);
  return 0;
}

interface ValidationReport {
  readonly valid: boolean;
  readonly source: string;
  readonly rules: number;
  readonly errors: readonly IngressProblem[];
  readonly warnings: readonly IngressProblem[];
}

const positioned = (p: IngressProblem) =>
  p.line === undefined ? p.message : `${p.message} (line ${p.line}, column ${p.column ?? 1})`;

function validateFile(path: string): ValidationReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TunnelError(
      'INVALID_INPUT',
      `Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
      {
        hint: 'Give the path of a cloudflared config.yml that this user may read.',
      },
    );
  }
  const parsed = parseConfigFile(text);
  return {
    valid: parsed.errors.length === 0,
    source: path,
    rules: parsed.rules.length,
    errors: parsed.errors,
    warnings: parsed.warnings,
  };
}

/** `tunnel ingress validate [file]`: exit 0 when cloudflared would accept it, else INGRESS_INVALID's code. */
export async function ingressValidate(cx: CommandContext, file: string | undefined): Promise<number> {
  let report: ValidationReport;
  if (file) report = validateFile(file);
  else {
    const config = await cx.config();
    if (config.ingress.mode === 'local') report = validateFile(config.ingress.configPath);
    else {
      const { ingress } = await openIngressStore(cx);
      const source = `remote configuration of tunnel ${config.cloudflare.tunnelId}`;
      try {
        const snapshot = await ingress.read();
        report = { valid: true, source, rules: snapshot.rules.length, errors: [], warnings: [] };
      } catch (error) {
        if (!isTunnelError(error, 'INGRESS_INVALID')) throw error;
        const problems = (error.details?.problems as IngressProblem[] | undefined) ?? [
          { ruleNumber: null, message: error.message },
        ];
        report = { valid: false, source, rules: 0, errors: problems, warnings: [] };
      }
    }
  }
  const { out } = cx;
  if (out.json) out.data(report);
  else {
    if (report.valid) out.line(out.ok(`${report.source}: ${report.rules} rules; cloudflared accepts them`));
    else out.line(out.fail(`${report.source}: cloudflared would refuse this configuration`));
    for (const problem of report.errors) out.line(`  ${out.c.red('error')}  ${positioned(problem)}`);
    for (const problem of report.warnings) out.line(`  ${out.c.yellow('warning')}  ${positioned(problem)}`);
  }
  return report.valid ? 0 : exitCodeForFamily('conflict');
}

/** `tunnel ingress rule <url>`: the rule that serves the URL, numbered from 0 as cloudflared prints it. */
export async function ingressRule(cx: CommandContext, url: string): Promise<number> {
  const { ingress } = await openIngressStore(cx);
  const snapshot = await ingress.read();
  const match = matchIngressRule(snapshot.rules, url);
  const { out } = cx;
  if (out.json) {
    out.data({ url, ...ruleJson(match.rule, match.index) });
    return 0;
  }
  out.line(`Matched rule #${match.index}`);
  const rule = match.rule;
  if (rule.hostname) out.line(`  hostname: ${rule.hostname}`);
  if (rule.path) out.line(`  path: ${rule.path}`);
  out.line(`  service: ${rule.service}`);
  out.line(`  owner: ${rule.managed ? rule.managed.owner : out.c.dim('not managed by Tunnel Manager')}`);
  return 0;
}

function noBackups(): TunnelError {
  return new TunnelError('INVALID_INPUT', 'The configured ingress store keeps no backups.', {
    hint: 'Backups exist for the local config.yml (ingress.mode: local); a remote configuration is versioned by Cloudflare.',
  });
}

/** `tunnel ingress backups` */
export async function ingressBackups(cx: CommandContext): Promise<number> {
  const { ingress } = await openIngressStore(cx);
  if (!ingress.capabilities.backups || !ingress.listBackups) throw noBackups();
  const backups = await ingress.listBackups();
  const { out } = cx;
  if (out.json) {
    out.data({ backups });
    return 0;
  }
  if (backups.length === 0) {
    out.line(out.c.dim('No backups yet: one is kept each time the rules are written.'));
    return 0;
  }
  out.table(
    [{ header: 'ID' }, { header: 'CREATED' }, { header: 'RULES', align: 'right' }, { header: 'VERSION' }],
    backups.map((b) => [b.id, formatTime(b.createdAt), String(b.ruleCount), b.version.slice(0, 12)]),
  );
  return 0;
}

/** `tunnel ingress restore <id>`: writes the backup back, audits it and queues a cloudflared restart. */
export async function ingressRestore(cx: CommandContext, id: string): Promise<number> {
  const { config, container, ingress } = await openIngressStore(cx);
  if (!ingress.capabilities.backups || !ingress.restoreBackup) throw noBackups();
  const store = openStore(cx, container);
  const clock = resolvePort(container, 'Clock');
  const started = clock.now();
  const audit = (entry: Pick<NewAuditEntry, 'params' | 'outcome' | 'errorCode' | 'message'>) =>
    store.audit.append({
      at: started,
      actor: 'admin',
      project: null,
      action: 'ingress.restore',
      target: id,
      durationMs: clock.now() - started,
      ...entry,
    });
  let snapshot: IngressSnapshot;
  try {
    snapshot = await ingress.restoreBackup(id);
  } catch (error) {
    await audit({
      params: { backup: id },
      outcome: 'error',
      errorCode: isTunnelError(error) ? error.code : 'INTERNAL',
      message: (error as Error).message,
    });
    throw error;
  }
  const coordinator = new RestartCoordinator({ mode: 'client', store, clock, restart: config.restart, ingress });
  const restart = await coordinator.requestRestart({
    reason: `ingress restored from backup ${id}`,
    requestedBy: 'admin',
    wait: false,
  });
  await audit({
    params: { backup: id, version: snapshot.version, rules: snapshot.rules.length },
    outcome: 'ok',
    errorCode: null,
    message: null,
  });
  const { out } = cx;
  if (out.json) {
    out.data({
      restored: id,
      version: snapshot.version,
      rules: snapshot.rules.map(ruleJson),
      restartPending: restart.pending,
    });
    return 0;
  }
  out.line(out.ok(`restored backup ${id}: ${snapshot.rules.length} rules (the replaced version is itself backed up)`));
  if (restart.pending) out.line(out.c.dim('cloudflared will be restarted by the daemon to apply them.'));
  out.line(out.c.dim('Routes whose rules the backup lacks show up in `tunnel reconcile`.'));
  return 0;
}
