import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { IngressRule } from '../domain/ingress.js';
import { TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { IngressBackup, IngressSnapshot, IngressStore, IngressStoreCapabilities } from '../ports/ingress-store.js';
import type { Logger } from '../ports/logger.js';
import { NoopLogger } from '../runtime/loggers.js';
import { SystemClock } from '../runtime/system-clock.js';
import { type ParsedConfigFile, parseConfigFile, rewriteIngress } from './config-file.js';
import { type HeldFileLock, tryLockFile } from './file-lock.js';
import { hasNoIngressYet } from './first-run.js';
import { formatProblem, type IngressProblem } from './problems.js';
import { assertWritableRule } from './safety.js';

/** The version of a configuration file that does not exist (what a repair that creates it expects). */
export const ABSENT_VERSION = 'absent';

export interface LocalFileIngressStoreHooks {
  /**
   * Called after the new file is written and fsynced under its temporary name, before it is
   * renamed over the configuration. A test seam: crash tests stop the process here.
   */
  beforeRename?(tempPath: string): void | Promise<void>;
}

export interface LocalFileIngressStoreOptions {
  /** cloudflared's configuration file (`config.yml`). */
  readonly path: string;
  /** Where the previous versions go. */
  readonly backupDir: string;
  /** How many previous versions to keep; 0 keeps none. @default 20 */
  readonly backups?: number;
  /** A lock not refreshed for this long belongs to a dead process (at least 2,000). @default 10_000 */
  readonly lockStaleMs?: number;
  /** How long a write waits for another process's lock before `LOCK_TIMEOUT`. @default 30_000 */
  readonly lockTimeoutMs?: number;
  /** @default SystemClock */
  readonly clock?: Clock;
  /** @default NoopLogger */
  readonly logger?: Logger;
  readonly hooks?: LocalFileIngressStoreHooks;
}

export interface LocalIngressWriteOptions {
  /**
   * Overwrite a configuration that is missing, unparseable or invalid (its backup is kept).
   * `expectedVersion` must still be its current version (`details.version` of the read error,
   * or {@link ABSENT_VERSION}). A file whose YAML parses keeps its other settings; one that does
   * not parse is replaced by a file holding only the rules. @default false
   */
  readonly repair?: boolean;
}

interface Loaded {
  readonly version: string;
  /** Null when the file does not exist. */
  readonly text: string | null;
  readonly file: ParsedConfigFile;
  readonly realPath: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

const BACKUP_NAME =
  /^(?<base>.+)\.(?<stamp>\d{8}T\d{9}Z)(?:-(?<seq>\d+))?\.r(?<rules>\d+)\.(?<version>[0-9a-f]{64})\.bak$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const hashOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function stampOf(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

function timeOfStamp(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(stamp);
  return m
    ? Date.UTC(+(m[1] ?? 0), +(m[2] ?? 1) - 1, +(m[3] ?? 1), +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), +(m[7] ?? 0))
    : 0;
}

function fsError(error: unknown, action: string, path: string): TunnelError {
  const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  if (error instanceof TunnelError) return error;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new TunnelError('AUTH_FAILED', `Cannot ${action} ${path}: permission denied (${code}).`, {
      hint: `Run Tunnel Manager as a user that may write ${dirname(path)} (and keep the file's owner), or fix its permissions.`,
      cause: error,
    });
  }
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new TunnelError('CONFIG_INVALID', `Cannot ${action} ${path}: a directory on the way does not exist.`, {
      hint: 'Check ingress.configPath and ingress.backupDir in the configuration.',
      cause: error,
    });
  }
  return new TunnelError('PROVIDER_UNAVAILABLE', `Cannot ${action} ${path} (${code}).`, {
    hint: 'The file system refused the operation (full disk, I/O error?). Nothing was changed; retry once it is fixed.',
    cause: error,
  });
}

/**
 * Whether the file cannot be read as rules. A file without ingress rules yet (what `cloudflared
 * tunnel create` leaves) is not broken: cloudflared runs it, and it reads as no rules.
 */
function isBroken(loaded: Loaded): boolean {
  return loaded.file.errors.length > 0 && !(loaded.text !== null && hasNoIngressYet(loaded.file));
}

function invalidFile(path: string, loaded: Loaded): TunnelError {
  const problems = loaded.file.errors;
  const shown = problems.slice(0, 5).map(formatProblem).join('; ');
  const missing = loaded.text === null;
  return new TunnelError(
    'INGRESS_INVALID',
    missing
      ? `The cloudflared configuration ${path} does not exist.`
      : `The cloudflared configuration ${path} is not valid: ${shown}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}.`,
    {
      // Front-end neutral: the CLI, MCP and library users all read this hint.
      hint: missing
        ? "Create it with `tunnel:` and `credentials-file:` (what `cloudflared tunnel create` leaves; the first route adds the ingress list), or point ingress.configPath at cloudflared's config.yml."
        : 'Fix the file by hand (cloudflared would refuse it too) or restore one of its backups. It was not changed.',
      details: { path, version: loaded.version, problems: problems.map((p) => ({ ...p })) },
    },
  );
}

/**
 * The ingress rules in cloudflared's local `config.yml`.
 *
 * - Reads with the `yaml` Document API; managed rules carry an owner mark comment on their first
 *   line (`- hostname: app.example.com # tunnel-manager:alpha@vm-1`), so ownership survives without
 *   the database. The version is the SHA-256 of the file's bytes.
 * - Writes splice the text: everything it does not rewrite (other settings, comments, rules it
 *   did not write) keeps its bytes. The candidate is validated with cloudflared's rules before
 *   anything is written, and an invalid candidate is refused with `INGRESS_INVALID`.
 * - Writes are atomic (temporary file in the same directory, fsync, rename, directory fsync) and
 *   keep the file's mode and owner. A cross-process lock (`<path>.lock`, see file-lock.ts; it
 *   also excludes a proper-lockfile lock of that name) is held around the version check and the
 *   write, so concurrent writers from several processes each either land or get
 *   `CONCURRENT_CHANGE`.
 * - Each write keeps the replaced version as a timestamped backup (the last N).
 * - A missing, unparseable or invalid file is reported on read with `INGRESS_INVALID` and the
 *   line and column of each problem, and is never overwritten unless a write asks to `repair`.
 */
export class LocalFileIngressStore implements IngressStore {
  readonly capabilities: IngressStoreCapabilities = { requiresRestart: true, backups: true };
  readonly path: string;
  readonly #backupDir: string;
  readonly #backups: number;
  readonly #lockStaleMs: number;
  readonly #lockTimeoutMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #hooks: LocalFileIngressStoreHooks;
  /** The last file parsed or written, by version: most reads and writes skip the YAML parse. */
  #cache: { version: string; file: ParsedConfigFile; bytes: Buffer } | null = null;
  #backupDirReady = false;
  #pruning: Promise<void> = Promise.resolve();
  #nextTempSweep = Number.NEGATIVE_INFINITY;
  /** The stamp and sequence number of this store's last backup. */
  #lastBackup = { stamp: '', seq: -1 };

  constructor(options: LocalFileIngressStoreOptions) {
    this.path = resolve(options.path);
    this.#backupDir = resolve(options.backupDir);
    this.#backups = options.backups ?? 20;
    this.#lockStaleMs = Math.max(2_000, options.lockStaleMs ?? 10_000);
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.#clock = options.clock ?? new SystemClock();
    this.#logger = (options.logger ?? new NoopLogger()).child({ component: 'ingress-store', path: this.path });
    this.#hooks = options.hooks ?? {};
  }

  async read(): Promise<IngressSnapshot> {
    const loaded = await this.#load();
    if (isBroken(loaded)) throw invalidFile(this.path, loaded);
    return this.#snapshot(loaded.file, loaded.version);
  }

  /**
   * Like {@link read}, but reports a bad file instead of throwing: its version, the rules that
   * could be read, and every problem with its line and column.
   */
  async inspect(): Promise<{
    version: string;
    exists: boolean;
    rules: readonly IngressRule[];
    problems: readonly IngressProblem[];
    warnings: readonly IngressProblem[];
  }> {
    const loaded = await this.#load();
    return {
      version: loaded.version,
      exists: loaded.text !== null,
      rules: loaded.file.rules,
      problems: loaded.file.errors,
      warnings: loaded.file.warnings,
    };
  }

  async write(
    rules: readonly IngressRule[],
    expectedVersion: string,
    options: LocalIngressWriteOptions = {},
  ): Promise<IngressSnapshot> {
    return this.#withLock(async (assertHeld) => {
      const current = await this.#load();
      if (current.version !== expectedVersion) {
        throw new TunnelError(
          'CONCURRENT_CHANGE',
          `The ingress configuration ${this.path} changed since it was read (version ${expectedVersion.slice(0, 12)}, now ${current.version.slice(0, 12)}).`,
          {
            hint: 'Read the rules again, re-apply your change and write at the new version.',
            details: { expectedVersion, version: current.version },
          },
        );
      }
      return this.#commit(current, rules, options.repair === true, assertHeld);
    });
  }

  /**
   * Reads, changes and writes the rules while holding the cross-process lock, so no other
   * writer can come between the read and the write (no `CONCURRENT_CHANGE`). `change` returns
   * the new rules, or null to keep them; it must not do I/O (the lock is held while it runs).
   */
  async update(
    change: (snapshot: IngressSnapshot) => readonly IngressRule[] | null,
  ): Promise<{ snapshot: IngressSnapshot; changed: boolean }> {
    return this.#withLock(async (assertHeld) => {
      const current = await this.#load();
      if (isBroken(current)) throw invalidFile(this.path, current);
      const before = this.#snapshot(current.file, current.version);
      const rules = change(before);
      if (rules === null) return { snapshot: before, changed: false };
      const snapshot = await this.#commit(current, rules, false, assertHeld);
      return { snapshot, changed: snapshot.version !== current.version };
    });
  }

  async #commit(
    current: Loaded,
    rules: readonly IngressRule[],
    repair: boolean,
    assertHeld: () => void,
  ): Promise<IngressSnapshot> {
    const broken = isBroken(current);
    if (broken && !repair) throw invalidFile(this.path, current);
    const base = broken && !this.#parsesAsYaml(current.file) ? parseConfigFile('') : current.file;
    const next = rewriteIngress(base, rules, (rule, index) => assertWritableRule(rule, index + 1));
    if (current.text !== null && next.text === current.text) return this.#snapshot(current.file, current.version);
    const bytes = Buffer.from(next.text, 'utf8');
    const version = hashOf(bytes);
    if (this.#clock.now() >= this.#nextTempSweep) {
      // Orphans only appear after a crash: look once at start, then every minute at most.
      this.#nextTempSweep = this.#clock.now() + 60_000;
      await this.#removeStaleTemps(current.realPath);
    }
    if (current.text !== null) await this.#backup(current);
    await this.#atomicWrite(current, bytes, assertHeld);
    this.#cache = { version, file: next, bytes };
    this.#logger.info('ingress rules written', {
      version,
      previousVersion: current.version,
      rules: rules.length,
      managed: rules.filter((r) => r.managed).length,
      repaired: broken,
    });
    return this.#snapshot(next, version);
  }

  /** Temporary files of writers that died between writing and renaming (we hold the lock: none is live). */
  async #removeStaleTemps(target: string): Promise<void> {
    const dir = dirname(target);
    const prefix = `.${basename(target)}.tm-`;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const pid = name.startsWith(prefix) ? Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]) : Number.NaN;
      if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
      try {
        unlinkSync(join(dir, name));
      } catch {}
      this.#logger.warn('removed the temporary file of a writer that died', { file: join(dir, name), pid });
    }
  }

  async listBackups(): Promise<IngressBackup[]> {
    return (await this.#backupEntries()).map(({ name, createdAt, version, ruleCount }) => ({
      id: name,
      createdAt,
      version,
      ruleCount,
    }));
  }

  async restoreBackup(id: string): Promise<IngressSnapshot> {
    const entry = (await this.#backupEntries()).find((b) => b.name === id);
    if (!entry) {
      throw new TunnelError('NOT_FOUND', `There is no ingress backup ${JSON.stringify(id.slice(0, 200))}.`, {
        hint: 'List the backups (listBackups / `tunnel ingress backups`) and pass one of their ids.',
      });
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(this.#backupDir, entry.name));
    } catch (error) {
      throw fsError(error, 'read the backup', join(this.#backupDir, entry.name));
    }
    const text = this.#decode(bytes, join(this.#backupDir, entry.name));
    const restored = parseConfigFile(text);
    if (restored.errors.length > 0) {
      throw new TunnelError(
        'INGRESS_INVALID',
        `The backup ${id} is not a valid configuration: ${restored.errors.map(formatProblem).join('; ')}.`,
        {
          hint: 'Pick another backup; nothing was changed.',
          details: { problems: restored.errors },
        },
      );
    }
    return this.#withLock(async (assertHeld) => {
      const current = await this.#load();
      const version = hashOf(bytes);
      if (current.version === version) return this.#snapshot(current.file, version);
      if (current.text !== null) await this.#backup(current);
      await this.#atomicWrite(current, bytes, assertHeld);
      this.#cache = { version, file: restored, bytes };
      this.#logger.info('ingress backup restored', { backup: id, version, previousVersion: current.version });
      return this.#snapshot(restored, version);
    });
  }

  #parsesAsYaml(file: ParsedConfigFile): boolean {
    return !file.errors.some(
      (e) => e.code === 'yaml-syntax' || (e.code === 'invalid-structure' && e.ruleNumber === null),
    );
  }

  #snapshot(file: ParsedConfigFile, version: string): IngressSnapshot {
    return { rules: file.rules, version, warnings: file.warnings.map(formatProblem) };
  }

  #decode(bytes: Buffer, path: string): string {
    try {
      return strictUtf8.decode(bytes);
    } catch (error) {
      throw new TunnelError('INGRESS_INVALID', `${path} is not valid UTF-8 text.`, {
        hint: 'cloudflared reads its configuration as UTF-8 YAML; fix the encoding. Nothing was changed.',
        cause: error,
      });
    }
  }

  // The file system calls below are synchronous on purpose: each async call is a thread-pool
  // round trip, and a write makes a dozen of them; together they cost more than the fsync.
  async #load(): Promise<Loaded> {
    let realPath = this.path;
    let bytes: Buffer;
    let info: { mode: number; uid: number; gid: number };
    try {
      realPath = realpathSync.native(this.path);
      bytes = readFileSync(realPath);
      info = statSync(realPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(error, 'read', this.path);
      const file = parseConfigFile('');
      const missing: IngressProblem = {
        ruleNumber: null,
        code: 'missing-file',
        message: `${this.path} does not exist`,
        cloudflared: `open ${this.path}: no such file or directory`,
      };
      return {
        version: ABSENT_VERSION,
        text: null,
        file: { ...file, errors: [missing] },
        realPath,
        mode: 0o644,
        uid: -1,
        gid: -1,
      };
    }
    // The bytes we last read or wrote, unchanged: their version is known without hashing again.
    const version = this.#cache?.bytes.equals(bytes) ? this.#cache.version : hashOf(bytes);
    const { mode, uid, gid } = info;
    if (this.#cache?.version === version) {
      return { version, text: this.#cache.file.text, file: this.#cache.file, realPath, mode: mode & 0o7777, uid, gid };
    }
    const text = this.#decode(bytes, this.path);
    const file = parseConfigFile(text);
    this.#cache = { version, file, bytes };
    return { version, text, file, realPath, mode: mode & 0o7777, uid, gid };
  }

  async #atomicWrite(current: Loaded, bytes: Buffer, assertHeld: () => void): Promise<void> {
    const target = current.realPath;
    const dir = dirname(target);
    const temp = join(dir, `.${basename(target)}.tm-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    let fd: number | null = null;
    try {
      fd = openSync(temp, 'wx', current.mode);
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
      // The umask may have narrowed the mode given to open(); the file keeps the original's.
      fchmodSync(fd, current.mode);
      if (current.uid >= 0) {
        const created = fstatSync(fd);
        if (created.uid !== current.uid || created.gid !== current.gid) fchownSync(fd, current.uid, current.gid);
      }
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
      if (this.#hooks.beforeRename) await this.#hooks.beforeRename(temp);
      assertHeld();
      renameSync(temp, target);
    } catch (error) {
      if (fd !== null) closeSync(fd);
      try {
        unlinkSync(temp);
      } catch {}
      throw fsError(error, 'write', target);
    }
    // Without this the rename itself may be lost in a power cut, though the data was fsynced.
    try {
      const directory = openSync(dir, 'r');
      try {
        fsyncSync(directory);
      } finally {
        closeSync(directory);
      }
    } catch (error) {
      this.#logger.warn('could not fsync the configuration directory', { dir, error: String(error) });
    }
  }

  async #backupEntries() {
    let names: string[];
    try {
      names = await readdir(this.#backupDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(error, 'list backups in', this.#backupDir);
    }
    const base = basename(this.path);
    return names
      .map((name) => ({ name, m: BACKUP_NAME.exec(name)?.groups }))
      .filter((e) => e.m?.base === base)
      .map(({ name, m }) => ({
        name,
        stamp: m?.stamp ?? '',
        seq: Number(m?.seq ?? 0),
        createdAt: timeOfStamp(m?.stamp ?? ''),
        version: m?.version ?? '',
        ruleCount: Number(m?.rules ?? 0),
      }))
      .sort((a, b) => (a.stamp === b.stamp ? b.seq - a.seq : a.stamp < b.stamp ? 1 : -1));
  }

  /** Keeps the version about to be replaced: a hard link to it (a copy across file systems). */
  async #backup(current: Loaded): Promise<void> {
    if (this.#backups <= 0) return;
    try {
      if (!this.#backupDirReady) {
        mkdirSync(this.#backupDir, { recursive: true, mode: 0o700 });
        this.#backupDirReady = true;
      }
      const stamp = stampOf(this.#clock.now());
      const ruleCount = current.file.errors.length > 0 ? 0 : current.file.rules.length;
      // Backups this store makes within one millisecond get increasing sequence numbers (two
      // processes backing up in the same millisecond are not ordered between themselves).
      let seq = this.#lastBackup.stamp === stamp ? this.#lastBackup.seq + 1 : 0;
      for (; ; seq++) {
        const name = `${basename(this.path)}.${stamp}${seq > 0 ? `-${seq}` : ''}.r${ruleCount}.${current.version}.bak`;
        const target = join(this.#backupDir, name);
        try {
          linkSync(current.realPath, target);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') continue;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw error;
          copyFileSync(current.realPath, target, constants.COPYFILE_EXCL);
        }
        this.#lastBackup = { stamp, seq };
        break;
      }
    } catch (error) {
      throw fsError(error, 'back up the configuration into', this.#backupDir);
    }
    // Pruning is not part of the write: it runs in the background (unlinking the last link
    // of an old version frees its blocks, which costs as much as an fsync on some disks).
    this.#pruning = this.#pruning.then(() => this.#prune()).catch(() => {});
  }

  async #prune(): Promise<void> {
    const entries = await this.#backupEntries();
    for (const old of entries.slice(this.#backups)) {
      await unlink(join(this.#backupDir, old.name)).catch(() => {});
    }
  }

  /** Resolves once the background pruning of old backups has finished (for tests and shutdown). */
  async settled(): Promise<void> {
    await this.#pruning;
  }

  async #withLock<T>(fn: (assertHeld: () => void) => Promise<T>): Promise<T> {
    const deadline = this.#clock.now() + this.#lockTimeoutMs;
    const lost = () =>
      new TunnelError('LOCK_TIMEOUT', `The lock on ${this.path} was lost while writing; nothing was written.`, {
        hint: 'Another process took the lock over as stale (the write was too slow). Retry.',
      });
    let lock: HeldFileLock | null = null;
    for (let attempt = 0; lock === null; attempt++) {
      try {
        lock = tryLockFile(this.path, this.#lockStaleMs, lost);
      } catch (error) {
        throw fsError(error, 'lock', `${this.path}.lock`);
      }
      if (lock !== null) break;
      if (this.#clock.now() >= deadline) {
        throw new TunnelError(
          'LOCK_TIMEOUT',
          `Another process held the lock on ${this.path} for over ${this.#lockTimeoutMs} ms.`,
          {
            hint: 'Retry in a moment. If no Tunnel Manager process is running, the lock is released once it is stale.',
            details: { lock: `${this.path}.lock` },
          },
        );
      }
      await this.#clock.sleep(Math.min(40, 1 + attempt * 2) * (0.5 + Math.random()));
    }
    const held = lock;
    try {
      return await fn(() => held.assertHeld());
    } finally {
      held.release();
    }
  }
}
