import { parseProjectName } from '../domain/actor.js';
import { Hostname } from '../domain/hostname.js';
import { SERVICE_SCHEMES, type ServiceScheme } from '../domain/route.js';
import type { ContainerInfo } from '../domain/topology.js';
import { isTunnelError } from '../errors.js';
import { PROJECT_LABEL } from '../topology/ownership-guard.js';
import { parsePort } from '../topology/target-request.js';

/** The labels a container publishes itself with. */
export const LABELS = {
  hostname: 'tunnel.hostname',
  port: 'tunnel.port',
  scheme: 'tunnel.scheme',
  project: PROJECT_LABEL,
  path: 'tunnel.path',
} as const;

const KNOWN = new Set<string>(Object.values(LABELS));

/** What a container's labels ask for. */
export interface LabelRequest {
  readonly hostname: string;
  readonly project: string;
  readonly port: number;
  readonly scheme: ServiceScheme;
}

export type LabelParse =
  | { readonly ok: true; readonly request: LabelRequest }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly hint: string };

const bad = (message: string, hint: string): LabelParse => ({ ok: false, code: 'INVALID_INPUT', message, hint });

/** Whether the container asks to be published at all (it has `tunnel.hostname`). */
export const asksToPublish = (c: Pick<ContainerInfo, 'labels'>): boolean => LABELS.hostname in c.labels;

/**
 * Reads a container's `tunnel.*` labels, with the same rules the façade applies to a request
 * (hostname, port, scheme, project name). An unknown `tunnel.*` label is refused rather than
 * ignored: a typo (`tunnel.prot`) must not publish something else than what was meant.
 * `tunnel.path` is refused until routes carry a path: publishing the whole hostname instead of
 * one path under it would expose more than the label asked for.
 */
export function parseContainerLabels(c: Pick<ContainerInfo, 'name' | 'labels'>): LabelParse {
  const l = c.labels;
  const unknown = Object.keys(l)
    .filter((k) => k.startsWith('tunnel.') && !KNOWN.has(k))
    .sort();
  if (unknown.length > 0) {
    return bad(
      `Container ${c.name} has unknown label${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}.`,
      `The labels are ${[...KNOWN].join(', ')}; fix the name and recreate the container.`,
    );
  }
  if (l[LABELS.path] !== undefined) {
    return bad(
      `Container ${c.name} asks for ${LABELS.path}=${l[LABELS.path]}, which this version cannot publish (routes have no path yet).`,
      `Remove ${LABELS.path} to publish the whole hostname, or give the path its own hostname.`,
    );
  }
  const missing = [LABELS.hostname, LABELS.port, LABELS.project].filter((k) => !l[k]);
  if (missing.length > 0) {
    return bad(
      `Container ${c.name} has ${LABELS.hostname} but no ${missing.join(' or ')}.`,
      `Label it with ${LABELS.hostname}, ${LABELS.port} and ${LABELS.project} (and optionally ${LABELS.scheme}).`,
    );
  }
  try {
    const hostname = Hostname.parse(l[LABELS.hostname]).value;
    const project = parseProjectName(l[LABELS.project]);
    const portText = l[LABELS.port] ?? '';
    const port = parsePort(/^\d{1,5}$/.test(portText) ? Number(portText) : portText);
    const scheme = l[LABELS.scheme] ?? 'http';
    if (!(SERVICE_SCHEMES as readonly string[]).includes(scheme)) {
      return bad(
        `Container ${c.name} has ${LABELS.scheme}=${scheme.slice(0, 40)}, which is not a service scheme.`,
        `Use one of ${SERVICE_SCHEMES.join(', ')}.`,
      );
    }
    return { ok: true, request: { hostname, project, port, scheme: scheme as ServiceScheme } };
  } catch (error) {
    if (!isTunnelError(error)) throw error;
    return {
      ok: false,
      code: error.code,
      message: `Container ${c.name} has an invalid label: ${error.message}`,
      hint: error.hint,
    };
  }
}
