import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { TunnelError } from '../errors.js';
import { Secret } from '../runtime/secret.js';
import { configSchema, type TunnelConfig, type TunnelConfigInput } from './schema.js';

/** The config file used when neither an argument nor `TUNNEL_CONFIG` names one. */
export const DEFAULT_CONFIG_PATH = '/etc/tunnel-manager/config.yml';

/**
 * The prefix of every configuration variable: `TM_<SECTION>__<KEY>`. Not `TUNNEL_`: that is
 * cloudflared's own prefix (`TUNNEL_TOKEN`, `TUNNEL_METRICS`, `TUNNEL_ORIGIN_CERT`, …), and a VM
 * running cloudflared has those set; they must never change or stop the manager.
 */
export const CONFIG_ENV_PREFIX = 'TM_';

export interface LoadConfigOptions {
  /** Config file. @default `env.TUNNEL_CONFIG`, else DEFAULT_CONFIG_PATH if it exists */
  file?: string;
  /** @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Applied last, over file and env (library callers, tests). */
  overrides?: TunnelConfigInput;
}

type Json = Record<string, unknown>;
type ZodAny = z.core.$ZodType;

interface Unwrapped {
  kind: string;
  schema: ZodAny;
}

/** Strips default/optional/transform wrappers to find what a key really holds. */
function unwrap(schema: ZodAny): Unwrapped {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { type: string; innerType?: ZodAny; in?: ZodAny };
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return { kind: def.type, schema: current };
  }
}

function shapeOf(schema: ZodAny): Record<string, ZodAny> | null {
  const { kind, schema: inner } = unwrap(schema);
  return kind === 'object' ? ((inner._zod.def as unknown as { shape: Record<string, ZodAny> }).shape ?? null) : null;
}

const toEnvSegment = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** Every leaf key: its path and env var name. Exported for docs and `tunnel init`. */
export function configKeys(): Array<{ path: string[]; env: string; kind: string; description: string | undefined }> {
  const keys: Array<{ path: string[]; env: string; kind: string; description: string | undefined }> = [];
  const walk = (schema: ZodAny, path: string[]) => {
    const shape = shapeOf(schema);
    if (shape && path.length < 6) {
      for (const [key, child] of Object.entries(shape)) walk(child, [...path, key]);
      return;
    }
    keys.push({
      path,
      env: `${CONFIG_ENV_PREFIX}${path.map(toEnvSegment).join('__')}`,
      kind: unwrap(schema).kind,
      description: (schema as unknown as { description?: string }).description,
    });
  };
  walk(configSchema, []);
  return keys;
}

function setPath(target: Json, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Json;
  }
  node[path[path.length - 1] as string] = value;
}

/**
 * `over` laid on `base`, key by key: nested sections merge, anything else (arrays, scalars, a
 * Secret) replaces — how the file, `TM_*` variables and `overrides` combine in `loadConfig`.
 * Neither input is changed.
 */
export function mergeConfigInput(base: TunnelConfigInput, over: TunnelConfigInput = {}): TunnelConfigInput {
  return deepMerge(base as Json, over as Json) as TunnelConfigInput;
}

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      !(value instanceof Secret) &&
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev)
        ? deepMerge(prev as Json, value as Json)
        : value;
  }
  return out;
}

function configError(message: string, hint: string, details?: Record<string, unknown>): TunnelError {
  return new TunnelError('CONFIG_INVALID', message, { hint, ...(details ? { details } : {}) });
}

/** Converts an env var's text to the type its key holds; throws CONFIG_INVALID when it cannot. */
function envValue(name: string, raw: string, kind: string): unknown {
  switch (kind) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) {
        throw configError(`${name}=${JSON.stringify(raw)} is not a number.`, `Set ${name} to a number.`);
      }
      return n;
    }
    case 'boolean': {
      if (/^(true|1|yes)$/i.test(raw)) return true;
      if (/^(false|0|no)$/i.test(raw)) return false;
      throw configError(`${name}=${JSON.stringify(raw)} is not a boolean.`, `Set ${name} to true or false.`);
    }
    case 'array':
      return raw.trim() === '' ? [] : raw.split(',').map((item) => item.trim());
    default:
      return raw;
  }
}

/** The prefix configuration variables had before `TM_`. */
const LEGACY_ENV_PREFIX = 'TUNNEL_';

function envOverrides(env: Readonly<Record<string, string | undefined>>, sources: Map<string, string>): Json {
  const keys = configKeys();
  const byEnv = new Map(keys.map((key) => [key.env, key]));
  const out: Json = {};
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue;
    if (name.startsWith(LEGACY_ENV_PREFIX)) {
      // Only the exact old name of one of our keys is ours (a renamed variable would otherwise be
      // ignored in silence; cloudflared defines none of them). Every other TUNNEL_ variable is
      // cloudflared's and none of our business.
      const renamed = `${CONFIG_ENV_PREFIX}${name.slice(LEGACY_ENV_PREFIX.length)}`;
      if (byEnv.has(renamed)) {
        throw configError(
          `${name} is the old name of a configuration variable; it is no longer read.`,
          `Rename it to ${renamed} (configuration variables are ${CONFIG_ENV_PREFIX}<SECTION>__<KEY>, so that cloudflared's own TUNNEL_ variables never clash with them).`,
        );
      }
      continue;
    }
    if (!name.startsWith(CONFIG_ENV_PREFIX)) continue;
    const key = byEnv.get(name);
    if (!key) {
      throw configError(
        `Unknown environment variable ${name}.`,
        `Configuration variables are ${CONFIG_ENV_PREFIX}<SECTION>__<KEY>, e.g. ${CONFIG_ENV_PREFIX}HEALTH__INTERVAL_MS; see docs/configuration.md (or \`tunnel init\`) for every key's variable.`,
      );
    }
    setPath(out, key.path, envValue(name, raw, key.kind));
    sources.set(key.path.join('.'), `env ${name}`);
  }
  const fallbackToken = env.CLOUDFLARE_API_TOKEN;
  if (fallbackToken && !env[`${CONFIG_ENV_PREFIX}CLOUDFLARE__API_TOKEN`]) {
    setPath(out, ['cloudflare', 'apiToken'], fallbackToken);
    sources.set('cloudflare.apiToken', 'env CLOUDFLARE_API_TOKEN');
  }
  return out;
}

function readConfigFile(file: string, sources: Map<string, string>): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw configError(
      `Cannot read the config file ${file}: ${(error as Error).message}.`,
      'Check the path and its permissions, or run `tunnel init` to write one.',
      { file },
    );
  }
  const doc = parseDocument(text);
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    throw configError(
      `The config file ${file} is not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${first.message.split('\n')[0]}`,
      'Fix the YAML syntax at that position.',
      { file, ...(pos ? { line: pos.line, column: pos.col } : {}) },
    );
  }
  const data = doc.toJS() as unknown;
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw configError(`The config file ${file} must hold a mapping of keys.`, 'Start from `tunnel init`.', { file });
  }
  const mark = (value: unknown, path: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) mark(v, [...path, k]);
    } else sources.set(path.join('.'), `file ${file}`);
  };
  mark(data, []);
  return data as Json;
}

const SECRET_PATHS = new Set(['cloudflare.apiToken']);

function describeValue(path: string, input: unknown): string {
  if (SECRET_PATHS.has(path)) return '[redacted]';
  if (input === undefined) return 'nothing';
  const text = JSON.stringify(input) ?? String(input);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/**
 * Validates a configuration object and fills in defaults and derived paths.
 * Throws CONFIG_INVALID naming each bad key, its value and what is allowed.
 */
export function parseConfig(input: TunnelConfigInput | Json, sources = new Map<string, string>()): TunnelConfig {
  const result = configSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const keys =
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) => [...issue.path, k].join('.'))
          : [issue.path.join('.')];
      return keys.map((key) => {
        const source = sources.get(key);
        const value = issue.code === 'unrecognized_keys' ? '' : ` = ${describeValue(key, issue.input)}`;
        const why = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
        return `${key || '(root)'}${value}: ${why}${source ? ` (from ${source})` : ''}`;
      });
    });
    const lines = problems.flat();
    throw configError(
      `Invalid configuration: ${lines.join('; ')}.`,
      'Fix the key(s) named above; `tunnel init` writes a commented file with every key and its allowed values.',
      { problems: lines },
    );
  }
  const config = result.data;
  const dataDir = resolve(config.dataDir);
  return {
    ...config,
    dataDir,
    database: { ...config.database, path: config.database.path ?? join(dataDir, 'state.db') },
    ingress: { ...config.ingress, backupDir: config.ingress.backupDir ?? join(dataDir, 'ingress-backups') },
    cloudflared: {
      ...config.cloudflared,
      child: {
        ...config.cloudflared.child,
        pidFile: config.cloudflared.child.pidFile ?? join(dataDir, 'cloudflared.pid'),
        logFile: config.cloudflared.child.logFile ?? join(dataDir, 'cloudflared.log'),
      },
    },
  };
}

/**
 * Loads the configuration: the YAML file, then `TM_*` env overrides, then `overrides`.
 * The API token may come from `cloudflare.apiTokenFile`; it is read here and kept as a Secret.
 */
export function loadConfig(options: LoadConfigOptions = {}): TunnelConfig {
  const env = options.env ?? process.env;
  const sources = new Map<string, string>();
  const file = options.file ?? env.TUNNEL_CONFIG ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  let raw: Json = file ? readConfigFile(file, sources) : {};
  raw = deepMerge(raw, envOverrides(env, sources));
  if (options.overrides) raw = deepMerge(raw, options.overrides as Json);
  const config = parseConfig(raw, sources);
  const tokenFile = config.cloudflare.apiTokenFile;
  if (tokenFile && !config.cloudflare.apiToken) {
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (error) {
      throw configError(
        `Cannot read cloudflare.apiTokenFile ${tokenFile}: ${(error as Error).message}.`,
        'Check the path and that the daemon user may read it.',
      );
    }
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw configError(
        `cloudflare.apiTokenFile ${tokenFile} does not hold a token.`,
        'The file must contain the token alone, on one line.',
      );
    }
    return { ...config, cloudflare: { ...config.cloudflare, apiToken: new Secret(token) } };
  }
  return config;
}
