import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  type FSWatcher,
  mkdirSync,
  readFileSync,
  renameSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, extname } from 'node:path';
import lockfile from 'proper-lockfile';
import type { TunnelConfig } from '../config/schema.js';
import type { ProcessState } from '../domain/health.js';
import { TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type {
  ProcessController,
  ProcessControllerCapabilities,
  ProcessStatus,
  ReplicaStatus,
  RestartOptions,
} from '../ports/process-controller.js';
import { NoopLogger } from '../runtime/loggers.js';
import { SystemClock } from '../runtime/system-clock.js';
import { defaultCloudflaredArgs, metricsUrlFor, planReplicaArgs } from './cloudflared-args.js';
import { isSameProcess, procInfo } from './proc.js';
import { explainFromLog, MIN_CHECK_MS, RotatingLogFile } from './rotating-log.js';

export interface ChildProcessControllerOptions {
  /** The cloudflared executable. */
  readonly command: string;
  /** Its arguments; each replica gets its own `--metrics` port (see `planReplicaArgs`). */
  readonly args: readonly string[];
  /** @default 1 */
  readonly replicas?: number;
  /** Pass `--no-autoupdate` unless the args say something about auto-update (see `planReplicaArgs`). @default true */
  readonly noAutoupdate?: boolean;
  /** SIGTERM → this long → SIGKILL. Passed to cloudflared as `--grace-period` unless the args set one. @default 30000 */
  readonly gracePeriodMs?: number;
  /** Records the running replicas (JSON) so a restarted daemon adopts them. */
  readonly pidFile: string;
  /** Replica 1 logs here, replica N to `<name>-N<ext>`. */
  readonly logFile: string;
  /** @default 10 MiB */
  readonly logMaxBytes?: number;
  /** Rotated files kept per log. @default 3 */
  readonly logFiles?: number;
  /** `close()` stops the processes (else they outlive the daemon). @default false */
  readonly stopOnExit?: boolean;
  /** The children's environment. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** @default SystemClock */
  readonly clock?: Clock;
  /** @default NoopLogger */
  readonly logger?: Logger;
  /** A pidfile lock not refreshed for this long belongs to a dead process. @default 10000 */
  readonly lockStaleMs?: number;
  /**
   * The longest time between two checks of the log sizes; a fast-growing log is checked sooner
   * (see `RotatingLogFile.check`). A check is one stat() per replica. @default 1000
   */
  readonly logCheckIntervalMs?: number;
}

/** One replica as the pidfile records it. */
interface ReplicaRecord {
  readonly id: string;
  readonly pid: number;
  /** Kernel start time: with the pid, identifies the process even after pid reuse. */
  readonly startTicks: number | null;
  readonly startedAt: number;
  readonly metricsUrl: string;
  readonly args: readonly string[];
}

interface PidFileContent {
  readonly version: 1;
  readonly command: string;
  readonly replicas: readonly ReplicaRecord[];
}

interface Replica {
  readonly id: string;
  readonly index: number;
  readonly log: RotatingLogFile;
  record: ReplicaRecord | null;
  /** Set when this controller spawned the process (not when it adopted it). */
  child: ChildProcess | null;
  exit: { code: number | null; signal: NodeJS.Signals | null; detail: string | null } | null;
  /** Stopped on purpose (`stop()`), as opposed to exited on its own. */
  stopped: boolean;
}

const KILL_WAIT_MS = 5_000;
const EXIT_POLL_MS = 50;

function replicaLogPath(logFile: string, index: number): string {
  if (index === 0) return logFile;
  const ext = extname(logFile);
  return `${logFile.slice(0, logFile.length - ext.length)}-${index + 1}${ext}`;
}

async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host === '' || host === 'localhost' ? '127.0.0.1' : host, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    // cloudflared runs as the leader of its own process group (spawned detached): signal the
    // group, so a wrapper script and the real binary both get it.
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs cloudflared as children of the daemon: spawns and supervises each replica, writes their
 * output to size-rotated log files, restarts them gracefully (SIGTERM, the grace period, then
 * SIGKILL), and records them in a pidfile so that a restarted daemon adopts the running
 * processes instead of starting second copies. Every start, restart and stop holds a lock on
 * the pidfile, so two daemons cannot race each other.
 *
 * It does not restart a process that died by itself: it reports it `exited`, and the
 * HealthMonitor / RestartManager decide (with backoff).
 */
export class ChildProcessController implements ProcessController {
  readonly kind = 'child';
  readonly capabilities: ProcessControllerCapabilities = {
    canRestart: true,
    restartReloadsConfig: true,
    supportsReplicas: true,
    canStartStop: true,
  };
  readonly #options: ChildProcessControllerOptions & {
    replicas: number;
    gracePeriodMs: number;
    lockStaleMs: number;
  };
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #replicas: Replica[];
  #loaded = false;
  #queue: Promise<unknown> = Promise.resolve();
  #rotationTimer: { cancel(): void } | null = null;
  /** The next rotation check is already due within MIN_CHECK_MS. */
  #rotationSoon = false;
  /** Wake a check when a log is written to (a timer alone lets a burst overshoot the limit). */
  #logWatchers = new Map<string, FSWatcher>();
  #closed = false;

  constructor(options: ChildProcessControllerOptions) {
    const replicas = options.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) {
      throw new TunnelError(
        'INVALID_INPUT',
        `cloudflared.child.replicas must be a whole number ≥ 1, got ${replicas}.`,
        {
          hint: 'Set cloudflared.child.replicas to 1 or more.',
        },
      );
    }
    this.#options = {
      ...options,
      replicas,
      gracePeriodMs: options.gracePeriodMs ?? 30_000,
      lockStaleMs: options.lockStaleMs ?? 10_000,
    };
    // Fail on unusable arguments now, not at the first restart.
    for (let i = 0; i < replicas; i++) {
      try {
        planReplicaArgs(options.args, i, this.#options.gracePeriodMs, { noAutoupdate: this.#options.noAutoupdate });
      } catch (error) {
        throw new TunnelError('CONFIG_INVALID', `cloudflared.child.args: ${(error as Error).message}.`, {
          hint: 'Give --metrics as host:port, e.g. 127.0.0.1:20241 (or 127.0.0.1:0 to let the manager pick).',
        });
      }
    }
    this.#clock = options.clock ?? new SystemClock();
    this.#logger = options.logger ?? new NoopLogger();
    this.#replicas = Array.from({ length: replicas }, (_, index) => ({
      id: `replica-${index + 1}`,
      index,
      log: new RotatingLogFile(replicaLogPath(options.logFile, index), {
        maxBytes: options.logMaxBytes ?? 10 * 1024 * 1024,
        files: options.logFiles ?? 3,
      }),
      record: null,
      child: null,
      exit: null,
      stopped: false,
    }));
  }

  /** Builds one from the configuration (`cloudflared.child.*`, `cloudflared.gracePeriodMs`). */
  static fromConfig(
    config: TunnelConfig,
    deps: { clock?: Clock; logger?: Logger; env?: NodeJS.ProcessEnv } = {},
  ): ChildProcessController {
    const child = config.cloudflared.child;
    return new ChildProcessController({
      command: child.command,
      args: child.args ?? defaultCloudflaredArgs(config.ingress.configPath),
      replicas: child.replicas,
      gracePeriodMs: config.cloudflared.gracePeriodMs,
      noAutoupdate: config.cloudflared.noAutoupdate,
      pidFile: child.pidFile,
      logFile: child.logFile,
      logMaxBytes: child.logMaxBytes,
      logFiles: child.logFiles,
      stopOnExit: child.stopOnExit,
      lockStaleMs: config.locks.staleMs,
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.env ? { env: deps.env } : {}),
    });
  }

  /** Each replica's log file, in replica order. */
  get logFiles(): string[] {
    return this.#replicas.map((r) => r.log.path);
  }

  async status(): Promise<ProcessStatus> {
    this.#refreshFromPidFile();
    this.#rotateLogs(this.#logCheckIntervalMs);
    const replicas: ReplicaStatus[] = [];
    const details: string[] = [];
    let first: { replica: Replica; state: ProcessState } | null = null;
    for (const replica of this.#replicas) {
      const { state, detail } = this.#replicaState(replica);
      replicas.push({
        id: replica.id,
        state,
        pid: state === 'running' ? (replica.record?.pid ?? null) : null,
        metricsUrl: replica.record?.metricsUrl ?? null,
      });
      if (detail) details.push(`${replica.id}: ${detail}`);
      if (!first || (state === 'running' && first.state !== 'running')) first = { replica, state };
    }
    const lead = first as { replica: Replica; state: ProcessState };
    const running = lead.state === 'running';
    return {
      state: lead.state,
      pid: running ? (lead.replica.record?.pid ?? null) : null,
      startedAt: running ? (lead.replica.record?.startedAt ?? null) : null,
      exitCode: running ? null : (lead.replica.exit?.code ?? null),
      detail: details.length > 0 ? details.join('; ') : null,
      replicas,
    };
  }

  /** Starts every replica that is not running, adopting those the pidfile names. Idempotent. */
  async start(): Promise<void> {
    await this.#serialized(async () => {
      this.#refreshFromPidFile();
      for (const replica of this.#replicas) {
        if (this.#replicaState(replica).state !== 'running') await this.#spawn(replica, 'start');
        else replica.stopped = false;
      }
      this.#writePidFile();
    });
    this.#scheduleRotation();
  }

  async restart(options: RestartOptions): Promise<void> {
    const targets =
      options.replicaId === undefined ? this.#replicas : this.#replicas.filter((r) => r.id === options.replicaId);
    if (targets.length === 0) {
      throw new TunnelError('NOT_FOUND', `No cloudflared replica ${options.replicaId}.`, {
        hint: `Use one of: ${this.#replicas.map((r) => r.id).join(', ')}.`,
      });
    }
    await this.#serialized(async () => {
      this.#refreshFromPidFile();
      this.#logger.info('restarting cloudflared', {
        replicas: targets.map((r) => r.id),
        graceful: options.graceful,
        reason: options.reason,
      });
      await Promise.all(targets.map((r) => this.#terminate(r, options.graceful)));
      try {
        for (const replica of targets) await this.#spawn(replica, options.reason);
      } finally {
        this.#writePidFile();
      }
    });
    this.#scheduleRotation();
  }

  async stop(options: { graceful: boolean }): Promise<void> {
    await this.#serialized(async () => {
      this.#refreshFromPidFile();
      await Promise.all(this.#replicas.map((r) => this.#terminate(r, options.graceful)));
      for (const replica of this.#replicas) {
        replica.stopped = true;
        replica.record = null;
        replica.child = null;
      }
      this.#writePidFile();
    });
  }

  /**
   * Ends supervision: stops the log rotation timer and, with `stopOnExit`, the processes.
   * Without it cloudflared keeps running, and the next daemon adopts it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rotationTimer?.cancel();
    this.#rotationTimer = null;
    for (const watcher of this.#logWatchers.values()) watcher.close();
    this.#logWatchers.clear();
    if (this.#options.stopOnExit) await this.stop({ graceful: true });
  }

  #replicaState(replica: Replica): { state: ProcessState; detail: string | null } {
    const record = replica.record;
    if (record) {
      const alive = replica.child
        ? replica.child.exitCode === null && replica.child.signalCode === null && procInfo(record.pid).alive
        : isSameProcess(record.pid, record.startTicks);
      if (alive) return { state: 'running', detail: null };
      if (!replica.exit) {
        // Dead, and (for our own child) the exit event has not been delivered yet.
        replica.exit = replica.child
          ? { code: replica.child.exitCode, signal: replica.child.signalCode, detail: 'exited' }
          : {
              code: null,
              signal: null,
              detail: `process ${record.pid} is gone (exit status unknown: it was started by an earlier daemon)`,
            };
      }
    }
    if (replica.stopped) return { state: 'stopped', detail: 'stopped' };
    if (replica.exit) return { state: 'exited', detail: replica.exit.detail };
    return { state: 'stopped', detail: 'not started' };
  }

  #serialized<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => this.#withLock(operation));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #withLock<T>(operation: () => Promise<T>): Promise<T> {
    const pidFile = this.#options.pidFile;
    mkdirSync(dirname(pidFile), { recursive: true });
    // Another daemon may hold it through a whole graceful restart.
    const waitMs = this.#options.gracePeriodMs + KILL_WAIT_MS + 30_000;
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(pidFile, {
        realpath: false,
        stale: this.#options.lockStaleMs,
        retries: { retries: Math.ceil(waitMs / 500), minTimeout: 100, maxTimeout: 500, factor: 1.5 },
        onCompromised: (error) => this.#logger.error('cloudflared pidfile lock lost', { error }),
      });
    } catch (error) {
      throw new TunnelError('LOCK_TIMEOUT', `Another process holds the cloudflared pidfile lock (${pidFile}.lock).`, {
        hint: 'Another tunnel-manager daemon is starting or restarting cloudflared; run only one daemon per VM.',
        cause: error,
      });
    }
    try {
      return await operation();
    } finally {
      await release().catch(() => undefined);
    }
  }

  #readPidFile(): PidFileContent | null {
    let text: string;
    try {
      text = readFileSync(this.#options.pidFile, 'utf8');
    } catch {
      return null;
    }
    try {
      const data = JSON.parse(text) as PidFileContent;
      return Array.isArray(data.replicas) ? data : null;
    } catch {
      this.#logger.warn('ignoring an unreadable cloudflared pidfile', { pidFile: this.#options.pidFile });
      return null;
    }
  }

  /**
   * Takes over what the pidfile says about replicas this controller did not spawn itself: a
   * live, identical process (same pid and kernel start time) is adopted. Re-read on every call
   * so a CLI process sees what the daemon runs.
   */
  #refreshFromPidFile(): void {
    const content = this.#readPidFile();
    const byId = new Map((content?.replicas ?? []).map((r) => [r.id, r]));
    for (const replica of this.#replicas) {
      if (replica.child) continue;
      const record = byId.get(replica.id);
      if (record && isSameProcess(record.pid, record.startTicks)) {
        if (replica.record?.pid !== record.pid) {
          if (this.#loaded) this.#logger.info('cloudflared replica found in pidfile', { replica: replica.id });
          else this.#logger.info('adopting running cloudflared', { replica: replica.id, pid: record.pid });
          replica.exit = null;
        }
        replica.record = record;
        replica.stopped = false;
      } else if (!record && replica.record && this.#loaded && !replica.exit) {
        // Another process stopped it and removed it from the pidfile.
        replica.record = null;
        replica.stopped = true;
      }
    }
    this.#loaded = true;
  }

  #writePidFile(): void {
    const content: PidFileContent = {
      version: 1,
      command: this.#options.command,
      replicas: this.#replicas.flatMap((r) =>
        r.record && this.#replicaState(r).state === 'running' ? [r.record] : [],
      ),
    };
    const tmp = `${this.#options.pidFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, this.#options.pidFile);
  }

  async #spawn(replica: Replica, reason: string): Promise<void> {
    const plan = planReplicaArgs(this.#options.args, replica.index, this.#options.gracePeriodMs, {
      noAutoupdate: this.#options.noAutoupdate,
    });
    const port = plan.metrics.port === 0 ? await freePort(plan.metrics.host) : plan.metrics.port;
    const args = plan.build(port);
    const metricsUrl = metricsUrlFor({ host: plan.metrics.host, port });
    mkdirSync(dirname(replica.log.path), { recursive: true });
    replica.log.rotateIfNeeded();
    appendFileSync(
      replica.log.path,
      `--- tunnel-manager: starting ${replica.id} at ${new Date(this.#clock.now()).toISOString()} (${reason.replace(/\s+/g, ' ')}) ---\n`,
    );
    const fd = replica.log.openForAppend();
    let child: ChildProcess;
    try {
      child = spawn(this.#options.command, args, {
        // Its own process group: a Ctrl-C or a signal to the daemon's group does not reach it,
        // and it keeps running when the daemon exits.
        detached: true,
        stdio: ['ignore', fd, fd],
        env: this.#options.env ?? process.env,
        ...(this.#options.cwd ? { cwd: this.#options.cwd } : {}),
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      replica.exit = { code: null, signal: null, detail: `could not start: ${(error as Error).message}` };
      replica.record = null;
      replica.child = null;
      replica.stopped = false;
      throw new TunnelError(
        'PROVIDER_UNAVAILABLE',
        `Cannot start cloudflared (${this.#options.command}): ${(error as Error).message}.`,
        {
          hint:
            code === 'ENOENT'
              ? 'Install cloudflared or set cloudflared.child.command to its full path.'
              : code === 'EACCES'
                ? 'Make cloudflared.child.command executable by the daemon user.'
                : 'Check cloudflared.child.command and the daemon log.',
          details: { command: this.#options.command, errno: code ?? null },
          cause: error,
        },
      );
    } finally {
      closeSync(fd);
    }
    const pid = child.pid as number;
    child.unref();
    replica.child = child;
    replica.stopped = false;
    replica.exit = null;
    replica.record = {
      id: replica.id,
      pid,
      startTicks: procInfo(pid).startTicks,
      startedAt: this.#clock.now(),
      metricsUrl,
      args,
    };
    child.once('exit', (code, signal) => {
      if (replica.child !== child) return;
      const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
      // A signal explains itself; an error exit is explained by cloudflared's last error line.
      const fromLog = code !== 0 && code !== null ? explainFromLog(replica.log.tail()) : null;
      replica.exit = { code, signal, detail: fromLog ? `${why}: ${fromLog}` : why };
      if (!replica.stopped) this.#logger.warn('cloudflared exited', { replica: replica.id, pid, code, signal });
    });
    this.#logger.info('cloudflared started', { replica: replica.id, pid, metricsUrl });
  }

  /** Ends a replica's process: SIGTERM and the grace period when graceful, then SIGKILL. */
  async #terminate(replica: Replica, graceful: boolean): Promise<void> {
    const record = replica.record;
    if (!record || this.#replicaState(replica).state !== 'running') return;
    const pid = record.pid;
    // A deliberate stop is not an "exit" the health monitor should act on.
    replica.stopped = true;
    if (graceful) {
      signalProcess(pid, 'SIGTERM');
      if (await this.#waitForExit(replica, this.#options.gracePeriodMs)) return;
      this.#logger.warn('cloudflared did not stop within the grace period; killing it', {
        replica: replica.id,
        pid,
        gracePeriodMs: this.#options.gracePeriodMs,
      });
    }
    signalProcess(pid, 'SIGKILL');
    if (await this.#waitForExit(replica, KILL_WAIT_MS)) return;
    throw new TunnelError('PROVIDER_UNAVAILABLE', `cloudflared (pid ${pid}) did not die after SIGKILL.`, {
      hint: 'The process is stuck in the kernel (e.g. on a hung filesystem); check `ps -o stat,wchan -p PID`.',
      details: { pid },
    });
  }

  async #waitForExit(replica: Replica, timeoutMs: number): Promise<boolean> {
    const deadline = this.#clock.now() + timeoutMs;
    for (;;) {
      const record = replica.record;
      const alive = record
        ? replica.child
          ? replica.child.exitCode === null && replica.child.signalCode === null && procInfo(record.pid).alive
          : isSameProcess(record.pid, record.startTicks)
        : false;
      if (!alive) return true;
      if (this.#clock.now() >= deadline) return false;
      await this.#clock.sleep(EXIT_POLL_MS);
    }
  }

  /** Checks every replica's log; returns when the next check is due (the soonest any log needs). */
  #rotateLogs(intervalMs: number): number {
    let next = intervalMs;
    for (const replica of this.#replicas) {
      try {
        const { rotated, nextCheckInMs } = replica.log.check(this.#clock.now(), intervalMs);
        if (rotated) this.#logger.info('rotated cloudflared log', { file: replica.log.path });
        next = Math.min(next, nextCheckInMs);
      } catch (error) {
        this.#logger.warn('cannot rotate the cloudflared log', { file: replica.log.path, error });
      }
    }
    return next;
  }

  /**
   * Checks the logs at most `logCheckIntervalMs` apart, sooner when one grows fast (its own
   * estimate), and within MIN_CHECK_MS of a write (inotify through fs.watch): a burst after an
   * idle spell is caught before it can carry the file past its limit.
   */
  #scheduleRotation(): void {
    if (this.#closed) return;
    for (const replica of this.#replicas) {
      if (this.#logWatchers.has(replica.log.path)) continue;
      try {
        const watcher = watch(replica.log.path, { persistent: false }, () => this.#checkLogsSoon());
        watcher.on('error', () => {
          watcher.close();
          this.#logWatchers.delete(replica.log.path);
        });
        this.#logWatchers.set(replica.log.path, watcher);
      } catch {
        // No file yet, or no inotify: the timer alone still checks.
      }
    }
    if (this.#rotationTimer) return;
    this.#rotationTimer = this.#clock.setTimer(this.#logCheckIntervalMs, () => this.#rotationTick());
  }

  get #logCheckIntervalMs(): number {
    return this.#options.logCheckIntervalMs ?? 1_000;
  }

  #rotationTick(): void {
    this.#rotationSoon = false;
    const next = this.#rotateLogs(this.#logCheckIntervalMs);
    if (!this.#closed) this.#rotationTimer = this.#clock.setTimer(next, () => this.#rotationTick());
  }

  #checkLogsSoon(): void {
    if (this.#closed || this.#rotationSoon || !this.#rotationTimer) return;
    this.#rotationSoon = true;
    this.#rotationTimer.cancel();
    this.#rotationTimer = this.#clock.setTimer(MIN_CHECK_MS, () => this.#rotationTick());
  }
}
