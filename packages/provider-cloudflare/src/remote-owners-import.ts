import { readFile, rename } from 'node:fs/promises';
import {
  formatOwnerMark,
  type IngressOwnerEntry,
  type IngressOwnerRepository,
  type Logger,
  parseOwnerMark,
} from '@tunnel/core';

/** The side file older releases kept remote rule owners in (`<dataDir>/remote-ingress-owners.json`). */
interface LegacyOwnersFile {
  readonly version: 1;
  readonly tunnelId: string;
  readonly rules: readonly { hostname?: unknown; path?: unknown; service?: unknown; owner?: unknown }[];
}

export interface ImportResult {
  /** Entries imported (0 when there was no file, or it described another tunnel). */
  readonly imported: number;
  /** Where the file went (`<path>.imported`), or null when there was none. */
  readonly renamedTo: string | null;
}

/**
 * Imports the legacy owners file into the state store once, then renames it `<path>.imported`
 * so it is never read again. Its marks name no instance (they are legacy marks: the reconciler,
 * or the next write, rewrites them). Entries already in the store win; a file for another
 * tunnel, or an unreadable one, imports nothing but is renamed all the same, with a warning.
 */
export async function importLegacyOwnersFile(
  path: string,
  owners: IngressOwnerRepository,
  tunnelId: string,
  logger?: Logger,
): Promise<ImportResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { imported: 0, renamedTo: null };
    throw error;
  }
  let entries: IngressOwnerEntry[] = [];
  try {
    const parsed = JSON.parse(text) as LegacyOwnersFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.rules)) throw new Error('not a version 1 owners file');
    if (parsed.tunnelId === tunnelId) {
      entries = parsed.rules.flatMap((r) => {
        if (typeof r.service !== 'string' || typeof r.owner !== 'string') return [];
        if (parseOwnerMark(formatOwnerMark(r.owner, null))?.owner !== r.owner) return [];
        return [
          {
            hostname: typeof r.hostname === 'string' ? r.hostname : '',
            path: typeof r.path === 'string' ? r.path : '',
            service: r.service,
            owner: r.owner,
            instance: null,
          },
        ];
      });
    } else {
      logger?.warn('the remote ingress owners file describes another tunnel; nothing imported', {
        path,
        fileTunnelId: parsed.tunnelId,
      });
    }
  } catch (error) {
    logger?.warn('the remote ingress owners file is unreadable; nothing imported', {
      path,
      error: (error as Error).message,
    });
  }
  if (entries.length > 0) {
    const stored = await owners.list(tunnelId);
    const key = (e: IngressOwnerEntry) => JSON.stringify([e.hostname, e.path, e.service]);
    const known = new Set(stored.map(key));
    await owners.replace(tunnelId, [...stored, ...entries.filter((e) => !known.has(key(e)))]);
  }
  const renamedTo = `${path}.imported`;
  await rename(path, renamedTo);
  logger?.info('remote ingress owners imported into the state store', { path, imported: entries.length });
  return { imported: entries.length, renamedTo };
}

/**
 * The repository, importing the legacy file before its first use (a wrapper, so the store
 * itself knows nothing of files).
 */
export function importingOwners(
  owners: IngressOwnerRepository,
  legacyPath: string,
  tunnelId: string,
  logger?: Logger,
): IngressOwnerRepository {
  let ready: Promise<unknown> | null = null;
  const once = () => {
    ready ??= importLegacyOwnersFile(legacyPath, owners, tunnelId, logger).catch((error: unknown) => {
      ready = null;
      throw error;
    });
    return ready;
  };
  return {
    list: async (id) => {
      await once();
      return owners.list(id);
    },
    replace: async (id, entries) => {
      await once();
      return owners.replace(id, entries);
    },
  };
}
