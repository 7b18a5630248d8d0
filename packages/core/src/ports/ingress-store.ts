import type { IngressRule } from '../domain/ingress.js';

export interface IngressSnapshot {
  /**
   * The ordered rules; the last one is the catch-all. Empty when the configuration has no
   * ingress rules yet (a `config.yml` as `cloudflared tunnel create` leaves it, a remote
   * configuration at version 0): cloudflared runs that, answering 503 to every request.
   */
  readonly rules: readonly IngressRule[];
  /** Opaque; changes whenever the stored rules change (a content hash, a remote version). */
  readonly version: string;
  /** Non-fatal findings on read, e.g. unknown `originRequest` keys (cloudflared warns too). */
  readonly warnings: readonly string[];
}

export interface IngressStoreCapabilities {
  /** cloudflared applies a written configuration only after a restart (local `config.yml`). */
  readonly requiresRestart: boolean;
  /** `listBackups` / `restoreBackup` are available. */
  readonly backups: boolean;
  /**
   * How `originRequest` values are typed in this store: `yaml` (a local `config.yml`: Go
   * duration strings such as `30s`) or `json` (the remote configuration: durations in seconds).
   * @default 'yaml'
   */
  readonly ruleFormat?: 'yaml' | 'json';
}

export interface IngressBackup {
  readonly id: string;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly version: string;
  readonly ruleCount: number;
}

/**
 * Where cloudflared's ingress rules live: a local `config.yml` or the tunnel's remote
 * configuration.
 *
 * Implementations:
 * - must return rules in order, each carrying `managed` exactly when the manager wrote it, with
 *   the owner and the instance its mark names (no `instance` for a legacy mark), and must persist
 *   both on write; whose a rule is (this instance's or a sibling's) is core's decision
 *   (`classifyRule`), never the store's;
 * - must validate a candidate with core's cloudflared validator and refuse an invalid one with
 *   `INGRESS_INVALID` before anything is written;
 * - must replace the rules atomically: a reader sees the old rules or the new ones, never a mix
 *   or a truncated file, even if the writer dies mid-write;
 * - must fail `write` with `CONCURRENT_CHANGE` when the stored version is not `expectedVersion`,
 *   and must make that check and the write one atomic step across processes;
 * - must keep everything they do not model (other settings, comments, unmanaged rules) as found;
 * - must report an unreadable or invalid stored configuration with `INGRESS_INVALID` on read and
 *   must not overwrite it unless explicitly asked to repair it;
 * - must read a configuration without ingress rules yet (which cloudflared runs) as no rules,
 *   not as invalid, and must accept a first write onto it, keeping everything else;
 * - must not log credentials.
 */
export interface IngressStore {
  readonly capabilities: IngressStoreCapabilities;
  read(): Promise<IngressSnapshot>;
  write(rules: readonly IngressRule[], expectedVersion: string): Promise<IngressSnapshot>;
  /** Newest first. Present when `capabilities.backups`. */
  listBackups?(): Promise<IngressBackup[]>;
  /** Restores a backup as a new write (itself backed up). Present when `capabilities.backups`. */
  restoreBackup?(id: string): Promise<IngressSnapshot>;
}
