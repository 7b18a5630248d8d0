import { ADMIN_OWNER, PROJECT_NAME_PATTERN } from './actor.js';
import { INSTANCE_ID_PATTERN } from './instance.js';

/**
 * The short mark the manager writes on every DNS record (in its comment) and every ingress rule
 * (as a YAML comment, or in the state store for remote rules) it creates, so ownership can be
 * recovered without the database: `tunnel-manager:<owner>@<instance>`.
 *
 * At most 99 characters (prefix 15 + project 63 + `@` + instance 20): within the 100-character
 * comment limit of free zones. It parses back unambiguously: a project name and an instance id
 * never contain `@`, and the admin owner `@admin` starts with one, so the owner ends at the last
 * `@`. Marks written before instances existed, `tunnel-manager:<owner>`, still parse, with
 * `instance: null` (see `classifyRecord` for whose they are).
 */
export const OWNER_MARK_PREFIX = 'tunnel-manager:';

export interface OwnerMark {
  /** A project name or `@admin`. */
  readonly owner: string;
  /** The instance that wrote the mark; null for a legacy mark. */
  readonly instance: string | null;
}

/** The mark for `owner` written by `instance` (null only to reproduce a legacy mark). */
export function formatOwnerMark(owner: string, instance: string | null): string {
  return instance === null ? `${OWNER_MARK_PREFIX}${owner}` : `${OWNER_MARK_PREFIX}${owner}@${instance}`;
}

const isOwner = (owner: string) => owner === ADMIN_OWNER || PROJECT_NAME_PATTERN.test(owner);

/** The owner and instance a mark names, or null when the text carries no valid mark. */
export function parseOwnerMark(text: string | null | undefined): OwnerMark | null {
  if (!text?.startsWith(OWNER_MARK_PREFIX)) return null;
  const body = text.slice(OWNER_MARK_PREFIX.length).trim().split(/\s/)[0] ?? '';
  const at = body.lastIndexOf('@');
  if (at <= 0) return isOwner(body) ? { owner: body, instance: null } : null;
  const owner = body.slice(0, at);
  const instance = body.slice(at + 1);
  return isOwner(owner) && INSTANCE_ID_PATTERN.test(instance) ? { owner, instance } : null;
}

/** The mark of a managed ingress rule (`managed.instance` absent: a legacy mark). */
export function formatRuleMark(managed: { readonly owner: string; readonly instance?: string }): string {
  return formatOwnerMark(managed.owner, managed.instance ?? null);
}

/** A parsed mark as a rule's `managed` (no `instance` key for a legacy mark). */
export function toManaged(mark: OwnerMark): { owner: string; instance?: string } {
  return mark.instance === null ? { owner: mark.owner } : { owner: mark.owner, instance: mark.instance };
}
