import { parseProjectName } from '../domain/actor.js';
import { Hostname } from '../domain/hostname.js';
import { SERVICE_SCHEMES, type ServiceScheme } from '../domain/route.js';
import {
  ORIGIN_SETTING_NAMES,
  ORIGIN_SETTING_TYPES,
  type OriginSettingName,
  type OriginSettings,
} from '../domain/route-options.js';
import type { ContainerInfo } from '../domain/topology.js';
import { isTunnelError } from '../errors.js';
import { parseOriginSettings, parseRoutePath, type RouteOptionsPolicy } from '../manager/route-options.js';
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

/** `tunnel.origin.<setting>`: one label per origin setting of the façade's allow-list. */
export const ORIGIN_LABEL_PREFIX = 'tunnel.origin.';

const KNOWN = new Set<string>([
  ...Object.values(LABELS),
  ...ORIGIN_SETTING_NAMES.map((name) => `${ORIGIN_LABEL_PREFIX}${name}`),
]);

/** What a container's labels ask for. */
export interface LabelRequest {
  readonly hostname: string;
  readonly project: string;
  readonly port: number;
  readonly scheme: ServiceScheme;
  /** The route's path regex (`tunnel.path`); null for the hostname's path-less route. */
  readonly path: string | null;
  /** Canonical origin settings (`tunnel.origin.*`); null for none. */
  readonly originRequest: OriginSettings | null;
}

export type LabelParse =
  | { readonly ok: true; readonly request: LabelRequest }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly hint: string };

const bad = (message: string, hint: string): LabelParse => ({ ok: false, code: 'INVALID_INPUT', message, hint });

/** Whether the container asks to be published at all (it has `tunnel.hostname`). */
export const asksToPublish = (c: Pick<ContainerInfo, 'labels'>): boolean => LABELS.hostname in c.labels;

/**
 * Reads a container's `tunnel.*` labels, with the same rules the façade applies to a request
 * (hostname, port, scheme, project name, path, origin settings — the same parsers). An unknown
 * `tunnel.*` label is refused rather than ignored: a typo (`tunnel.prot`,
 * `tunnel.origin.noTlsVerify`) must not publish something else than what was meant.
 * Label values are text; `tunnel.origin.*` values are read as the setting's type (`true`/`false`,
 * an integer) and then checked by `parseOriginSettings`, so `caPool` obeys `policy.caPoolDirs`.
 */
export function parseContainerLabels(
  c: Pick<ContainerInfo, 'name' | 'labels'>,
  routeOptions: RouteOptionsPolicy = { caPoolDirs: [] },
): LabelParse {
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
  const missing = [LABELS.hostname, LABELS.port, LABELS.project].filter((k) => !l[k]);
  if (missing.length > 0) {
    return bad(
      `Container ${c.name} has ${LABELS.hostname} but no ${missing.join(' or ')}.`,
      `Label it with ${LABELS.hostname}, ${LABELS.port} and ${LABELS.project} (and optionally ${LABELS.scheme}, ${LABELS.path}, ${ORIGIN_LABEL_PREFIX}<setting>).`,
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
    const path = parseRoutePath(l[LABELS.path], LABELS.path);
    const originRequest = parseOriginSettings(originLabels(l), routeOptions);
    return { ok: true, request: { hostname, project, port, scheme: scheme as ServiceScheme, path, originRequest } };
  } catch (error) {
    if (!isTunnelError(error)) throw error;
    return {
      ok: false,
      code: error.code,
      message: `Container ${c.name} has an invalid label${labelOf(error.details?.field)}: ${error.message}`,
      hint: error.hint,
    };
  }
}

/**
 * The `tunnel.origin.*` labels as an `originRequest` object, each value read as its setting's
 * type. A value that is not of the type is passed on as text, so `parseOriginSettings` refuses
 * it with the message an MCP or CLI caller would get (`must be true or false, got "yes"`).
 */
function originLabels(labels: Readonly<Record<string, string>>): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  for (const name of ORIGIN_SETTING_NAMES) {
    const text = labels[`${ORIGIN_LABEL_PREFIX}${name}`];
    if (text === undefined) continue;
    out[name] = typed(ORIGIN_SETTING_TYPES[name as OriginSettingName], text.trim());
  }
  return Object.keys(out).length === 0 ? null : out;
}

function typed(type: (typeof ORIGIN_SETTING_TYPES)[OriginSettingName], text: string): unknown {
  if (type === 'bool') return text === 'true' ? true : text === 'false' ? false : text;
  if (type === 'count') return /^\d{1,9}$/.test(text) ? Number(text) : text;
  return text;
}

/** The label a façade field came from, for the message (`originRequest.tlsTimeout` → its label). */
function labelOf(field: unknown): string {
  if (typeof field !== 'string') return '';
  if (field.startsWith('originRequest.')) return ` ${ORIGIN_LABEL_PREFIX}${field.slice('originRequest.'.length)}`;
  return field === LABELS.path ? ` ${LABELS.path}` : '';
}
