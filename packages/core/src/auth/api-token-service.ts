import { createHash, randomBytes } from 'node:crypto';
import { Actor } from '../domain/actor.js';
import { TunnelError, toTunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ApiTokenRecord, StateStore } from '../ports/state-store.js';
import { NoopLogger } from '../runtime/loggers.js';

/** The audit actions token management is recorded under. */
export const TOKEN_AUDIT_ACTIONS = { create: 'token.create', revoke: 'token.revoke' } as const;

/**
 * Every token starts with this, so secret scanners and people recognise one. The rest is 32
 * random bytes in base64url: 256 bits, so a plain SHA-256 is a sufficient stored form (no
 * password hash is needed for a secret nobody can guess).
 */
export const API_TOKEN_PREFIX = 'tmcp_';
const TOKEN_PATTERN = /^tmcp_[A-Za-z0-9_-]{43}$/;
const TOKEN_ID_PATTERN = /^tok_[0-9a-f]{16}$/;
const MAX_LABEL_LENGTH = 100;

/** `lastUsedAt` is written at most this often per token, so verifying stays a read. */
const TOUCH_INTERVAL_MS = 60_000;

/** What a bearer token stands for, as the HTTP front-end needs it. */
export interface VerifiedToken {
  readonly id: string;
  readonly actor: Actor;
  readonly label: string;
}

/** The one method an HTTP front-end needs; {@link ApiTokenService} implements it. */
export interface BearerTokenVerifier {
  /** The live token's identity, or null for an unknown, malformed or revoked token. Never throws for bad input. */
  verify(token: string): Promise<VerifiedToken | null>;
}

export interface CreateApiTokenInput {
  /** Who the token acts as: one project, or admin. */
  readonly actor: Actor;
  /** A note for `tunnel token ls`, e.g. `shop agent on vm-3`. @default '' */
  readonly label?: string;
}

export interface CreatedApiToken {
  /** The bearer token. Shown once: only its hash is stored. */
  readonly token: string;
  readonly record: ApiTokenRecord;
}

export interface ApiTokenServiceOptions {
  readonly store: Pick<StateStore, 'tokens' | 'audit'>;
  readonly clock: Clock;
  /** Where an audit entry that cannot be written is reported. @default NoopLogger */
  readonly logger?: Logger;
  /** Random bytes; injectable only so a test can pin a collision. @default crypto.randomBytes */
  readonly randomBytes?: (size: number) => Buffer;
}

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

function requireAdmin(by: Actor, what: string): void {
  if (by.kind !== 'admin') {
    throw new TunnelError(
      'NOT_OWNER',
      `Only an admin may ${what}; project ${by.kind === 'project' ? by.project : '?'} asked.`,
      {
        hint: 'Manage API tokens as the operator: `tunnel token create|ls|revoke` on the VM.',
      },
    );
  }
}

function parseSubject(input: unknown): Actor {
  const actor = input as Partial<{ kind: string; project: unknown }> | null | undefined;
  if (actor?.kind === 'admin') return Actor.admin();
  // Re-validates a hand-built Actor: the project name ends up in audit entries and routes.
  if (actor?.kind === 'project') return Actor.project(actor.project as string);
  throw new TunnelError('INVALID_INPUT', 'A token must be bound to one project or to admin.', {
    hint: 'Pass Actor.project(name) or Actor.admin() (CLI: `tunnel token create --project <name>` or `--admin`).',
  });
}

const hasControlCharacter = (text: string) =>
  [...text].some((ch) => {
    const code = ch.codePointAt(0) ?? 0;
    return code < 0x20 || code === 0x7f;
  });

function parseLabel(input: unknown): string {
  if (input === undefined) return '';
  if (typeof input !== 'string' || input.length > MAX_LABEL_LENGTH || hasControlCharacter(input)) {
    throw new TunnelError('INVALID_INPUT', 'Invalid token label.', {
      hint: `A label is at most ${MAX_LABEL_LENGTH} characters on one line, without control characters.`,
    });
  }
  return input;
}

/**
 * Bearer tokens for the MCP HTTP endpoint: each bound to one project or to admin.
 *
 * - `create` returns the plaintext token once and stores only its SHA-256;
 * - `verify` answers from the hash alone and never returns a revoked token;
 * - `create` and `revoke` are admin operations, each written to the audit log (success or
 *   failure) without the token or its hash.
 *
 * The CLI's `tunnel token create|ls|revoke` and the MCP HTTP front-end both use it.
 */
export class ApiTokenService implements BearerTokenVerifier {
  readonly #store: Pick<StateStore, 'tokens' | 'audit'>;
  readonly #clock: Clock;
  readonly #random: (size: number) => Buffer;
  readonly #logger: Logger;

  constructor(options: ApiTokenServiceOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger ?? new NoopLogger();
    this.#random = options.randomBytes ?? randomBytes;
  }

  /** Creates a token for `input.actor`. The returned `token` is the only copy there will ever be. */
  async create(input: CreateApiTokenInput, by: Actor = Actor.admin()): Promise<CreatedApiToken> {
    const startedAt = this.#clock.now();
    let actor: Actor | null = null;
    try {
      requireAdmin(by, 'create API tokens');
      actor = parseSubject(input.actor);
      const label = parseLabel(input.label);
      const token = `${API_TOKEN_PREFIX}${this.#random(32).toString('base64url')}`;
      const id = `tok_${this.#random(8).toString('hex')}`;
      await this.#store.tokens.insert({ id, hash: hashToken(token), actor, label, createdAt: startedAt });
      const record: ApiTokenRecord = { id, actor, label, createdAt: startedAt, lastUsedAt: null, revokedAt: null };
      await this.#audit(TOKEN_AUDIT_ACTIONS.create, by, actor, id, { label }, startedAt, null);
      return { token, record };
    } catch (error) {
      const failure = toTunnelError(error);
      await this.#audit(TOKEN_AUDIT_ACTIONS.create, by, actor, null, {}, startedAt, failure);
      throw failure;
    }
  }

  async verify(token: string): Promise<VerifiedToken | null> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return null;
    const record = await this.#store.tokens.findByHash(hashToken(token));
    if (!record || record.revokedAt !== null) return null;
    const now = this.#clock.now();
    if (record.lastUsedAt === null || now - record.lastUsedAt >= TOUCH_INTERVAL_MS) {
      await this.#store.tokens.touch(record.id, now);
    }
    return { id: record.id, actor: record.actor, label: record.label };
  }

  /** Every token, live and revoked, oldest first. Never includes a token or its hash. */
  async list(by: Actor = Actor.admin()): Promise<ApiTokenRecord[]> {
    requireAdmin(by, 'list API tokens');
    return this.#store.tokens.list();
  }

  /** Revokes a live token at once: the next request carrying it gets a 401. */
  async revoke(id: string, by: Actor = Actor.admin()): Promise<ApiTokenRecord> {
    const startedAt = this.#clock.now();
    let subject: Actor | null = null;
    let target: string | null = null;
    try {
      requireAdmin(by, 'revoke API tokens');
      if (typeof id !== 'string' || !TOKEN_ID_PATTERN.test(id)) {
        const shown = typeof id === 'string' ? JSON.stringify(id.slice(0, 40)) : `a ${typeof id}`;
        throw new TunnelError('INVALID_INPUT', `Invalid token id ${shown}.`, {
          hint: 'A token id looks like tok_0123456789abcdef; `tunnel token ls` lists them.',
        });
      }
      target = id;
      const existing = (await this.#store.tokens.list()).find((t) => t.id === id);
      subject = existing?.actor ?? null;
      if (!existing || existing.revokedAt !== null || !(await this.#store.tokens.revoke(id, startedAt))) {
        throw new TunnelError('NOT_FOUND', `No live API token ${id}.`, {
          hint: existing ? 'It is already revoked.' : '`tunnel token ls` lists the tokens and their ids.',
        });
      }
      await this.#audit(TOKEN_AUDIT_ACTIONS.revoke, by, subject, id, {}, startedAt, null);
      return { ...existing, revokedAt: startedAt };
    } catch (error) {
      const failure = toTunnelError(error);
      await this.#audit(TOKEN_AUDIT_ACTIONS.revoke, by, subject, target, {}, startedAt, failure);
      throw failure;
    }
  }

  /**
   * Writes the audit entry. One that cannot be written is logged, never thrown (as the
   * TunnelManager's audit trail does): the token already exists or the failure already happened,
   * and the caller must learn that, not an audit error.
   */
  async #audit(
    action: string,
    by: Actor,
    subject: Actor | null,
    target: string | null,
    params: Record<string, unknown>,
    startedAt: number,
    failure: TunnelError | null,
  ): Promise<void> {
    try {
      await this.#store.audit.append({
        at: startedAt,
        actor: Actor.describe(by),
        project: subject?.kind === 'project' ? subject.project : null,
        action,
        target,
        params,
        outcome: failure ? 'error' : 'ok',
        errorCode: failure?.code ?? null,
        message: failure?.message ?? null,
        durationMs: Math.max(0, this.#clock.now() - startedAt),
      });
    } catch (error) {
      this.#logger.error('could not write an audit entry', { action, target, error: String(error) });
    }
  }
}
