import { ADMIN_OWNER, PROJECT_NAME_PATTERN } from './actor.js';

/**
 * The short mark the manager writes on every DNS record (in its comment) and every ingress rule
 * (as a YAML comment) it creates, so ownership can be recovered without the database.
 * `tunnel-manager:<owner>` is at most 78 characters: well under the 100-character comment
 * limit of free zones.
 */
export const OWNER_MARK_PREFIX = 'tunnel-manager:';

export function formatOwnerMark(owner: string): string {
  return `${OWNER_MARK_PREFIX}${owner}`;
}

/** Returns the owner named by a mark, or null when the text carries no valid mark. */
export function parseOwnerMark(text: string | null | undefined): string | null {
  if (!text?.startsWith(OWNER_MARK_PREFIX)) return null;
  const owner = text.slice(OWNER_MARK_PREFIX.length).trim().split(/\s/)[0] ?? '';
  return owner === ADMIN_OWNER || PROJECT_NAME_PATTERN.test(owner) ? owner : null;
}
