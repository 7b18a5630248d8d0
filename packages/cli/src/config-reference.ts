import { configKeys, configSchema } from '@tunnel/core';
import { z } from 'zod';

/*
 * The configuration reference, derived from core's schema so it cannot drift: `tunnel init`
 * writes it as a commented YAML file, `pnpm run docs` as docs/configuration.md (a test compares).
 */

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
}

/** One leaf key of the configuration. */
export interface ConfigKeyReference {
  /** Dotted path, e.g. `health.intervalMs`. */
  readonly key: string;
  readonly path: readonly string[];
  /** Its environment override, e.g. `TM_HEALTH__INTERVAL_MS`. */
  readonly env: string;
  /** `integer 100–3600000`, `one of local, remote`, `list of strings`, … */
  readonly allowed: string;
  /** The default as YAML would write it; null when there is none (or it is derived, see `derivedDefault`). */
  readonly default: unknown;
  readonly hasDefault: boolean;
  /** A default computed from other keys (the description's `@default …`). */
  readonly derivedDefault: string | null;
  readonly description: string;
  readonly secret: boolean;
}

/** A top-level section (or a top-level scalar key, e.g. `dataDir`). */
export interface ConfigSectionReference {
  readonly name: string;
  readonly description: string | null;
  readonly keys: readonly ConfigKeyReference[];
}

let cachedSchema: JsonSchema | undefined;
function jsonSchema(): JsonSchema {
  cachedSchema ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return cachedSchema;
}

function nodeAt(path: readonly string[]): JsonSchema {
  let node = jsonSchema();
  for (const key of path) node = node.properties?.[key] ?? {};
  return node;
}

function describeAllowed(node: JsonSchema): string {
  if (node.enum) return `one of ${node.enum.map((v) => `\`${String(v)}\``).join(', ')}`;
  const type = Array.isArray(node.type) ? node.type.join(' or ') : node.type;
  if (type === 'integer' || type === 'number') {
    const range =
      node.minimum !== undefined && node.maximum !== undefined
        ? ` ${node.minimum}–${node.maximum}`
        : node.minimum !== undefined
          ? ` ≥ ${node.minimum}`
          : '';
    return `${type === 'integer' ? 'integer' : 'number'}${range}`;
  }
  if (type === 'boolean') return 'boolean';
  if (type === 'array') return `list of ${node.items?.type ?? 'value'}s`;
  if (type === 'string') {
    if (node.format === 'uri') return 'URL';
    if (node.pattern) return `string matching \`${node.pattern}\``;
    return 'string';
  }
  return type ?? 'value';
}

/** Every key, grouped by top-level section, in schema order. */
export function configReference(): ConfigSectionReference[] {
  const sections: ConfigSectionReference[] = [];
  const bySection = new Map<string, ConfigKeyReference[]>();
  for (const key of configKeys()) {
    const node = nodeAt(key.path);
    const rawDescription = key.description ?? node.description ?? '';
    const derived = /@default\s+(.+)$/.exec(rawDescription);
    const description = rawDescription.replace(/\s*@default\s+.+$/, '').trim();
    const hasDefault = node.default !== undefined;
    const entry: ConfigKeyReference = {
      key: key.path.join('.'),
      path: key.path,
      env: key.env,
      allowed: describeAllowed(node),
      default: hasDefault ? node.default : null,
      hasDefault,
      derivedDefault: derived ? (derived[1] as string).trim() : null,
      description,
      secret: key.path.join('.') === 'cloudflare.apiToken',
    };
    const section = key.path.length > 1 ? (key.path[0] as string) : '';
    let list = bySection.get(section);
    if (!list) {
      list = [];
      bySection.set(section, list);
      sections.push({
        name: section,
        description: section ? (nodeAt([section]).description ?? null) : null,
        keys: list,
      });
    }
    list.push(entry);
  }
  return sections;
}

/** A value as YAML flow text (JSON is valid YAML; plain scalars where they read back the same). */
function yamlValue(value: unknown): string {
  const plain =
    typeof value === 'string' &&
    /^[A-Za-z/][A-Za-z0-9_./@-]*$/.test(value) &&
    !/^(true|false|null|yes|no|on|off|y|n)$/i.test(value);
  return plain ? (value as string) : JSON.stringify(value);
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * A configuration file with every key commented out at its default, each with its meaning,
 * what it allows and its environment override. As written it configures nothing (all
 * defaults); uncommenting a key (and its section line) sets it.
 */
export function renderConfigTemplate(): string {
  const out: string[] = [
    '# Tunnel Manager configuration (written by `tunnel init`).',
    '#',
    '# Every key is shown commented out, at its default. To set one, uncomment it and the lines of',
    '# its sections. Every key can also be set by its environment variable (shown as `env`:',
    "# TM_<SECTION>__<KEY>), which wins over this file. TUNNEL_* variables are cloudflared's own",
    '# (TUNNEL_TOKEN, TUNNEL_METRICS, ...) and change nothing here. Set at least the Cloudflare',
    '# API token (a file is best), the account id and the tunnel id; then run `tunnel doctor`.',
  ];
  for (const section of configReference()) {
    out.push('');
    if (section.name) {
      out.push(`# ${'-'.repeat(94)}`);
      for (const l of wrap(section.description ?? '', 94)) out.push(`# ${l}`);
      out.push(`# ${section.name}:`);
    }
    const opened = new Set<string>();
    for (const key of section.keys) {
      const groups = key.path.slice(1, -1);
      groups.forEach((group, depth) => {
        const id = key.path.slice(0, depth + 2).join('.');
        if (opened.has(id)) return;
        opened.add(id);
        out.push(`${'  '.repeat(depth + 1)}# ${group}:`);
      });
      const pad = '  '.repeat(key.path.length - 1);
      const about = [key.description, key.derivedDefault ? `Defaults to ${key.derivedDefault}.` : '']
        .filter(Boolean)
        .join(' ');
      out.push(`${pad}#`);
      for (const l of wrap(about, 94 - pad.length)) out.push(`${pad}# ${l}`);
      out.push(`${pad}# (${key.allowed}; env ${key.env})`);
      const name = key.path[key.path.length - 1] as string;
      const shown = key.hasDefault ? yamlValue(key.default) : '';
      out.push(`${pad}# ${name}:${shown === '' ? '' : ` ${shown}`}`);
    }
  }
  return `${out.join('\n')}\n`;
}

const mdCell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/configuration.md: one table per section. */
export function renderConfigReference(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    'Generated from `packages/core/src/config/schema.ts` by `pnpm run docs`; a test keeps it equal to the schema.',
    '',
    'One YAML file (`--config`, `$TUNNEL_CONFIG`, else `/etc/tunnel-manager/config.yml`), then environment',
    'overrides: every key has its variable (`TM_<SECTION>__<KEY>`, camelCase words split by `_`),',
    'which wins over the file. Lists in a variable are comma-separated. The API token may also come',
    "from `CLOUDFLARE_API_TOKEN`. `TUNNEL_` variables are cloudflared's own (`TUNNEL_TOKEN`,",
    '`TUNNEL_METRICS`, …) and change nothing here; an unknown `TM_` variable is refused.',
    '`tunnel init` writes this reference as a commented file.',
    '',
  ];
  for (const section of configReference()) {
    out.push(`## ${section.name ? `\`${section.name}\`` : 'Top level'}`, '');
    if (section.description) out.push(section.description, '');
    out.push('| key | default | allowed | env | meaning |', '| --- | --- | --- | --- | --- |');
    for (const key of section.keys) {
      const def = key.hasDefault
        ? `\`${JSON.stringify(key.default)}\``
        : key.derivedDefault
          ? mdCell(key.derivedDefault)
          : '—';
      out.push(
        `| \`${key.key}\` | ${def} | ${mdCell(key.allowed)} | \`${key.env}\` | ${mdCell(key.description) || '—'} |`,
      );
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
