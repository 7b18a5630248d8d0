import { parseGoDuration } from './go-compat.js';
import { type IngressProblem, type IngressProblemCode, problem } from './problems.js';
import type { GoShape } from './yaml-v3.js';

/**
 * How `originRequest` values are typed. `yaml`: a local `config.yml` as cloudflared's yaml.v3
 * decoder reads it (durations are Go duration strings such as `30s`, a bare number is an error;
 * booleans accept YAML 1.1 words such as `yes`). `json`: the remote configuration as Go's
 * encoding/json reads it (durations are numbers of seconds, booleans are JSON booleans, keys
 * match case-insensitively). `auto`: accept either form — for callers that do not know where
 * the rules came from; stores always pass their own format.
 */
export type IngressFormat = 'yaml' | 'json' | 'auto';

export type FieldSpec =
  | 'duration'
  | 'bool'
  | 'int'
  | 'uint'
  | 'uint64'
  | 'string'
  | { readonly list: FieldSpec; readonly goType: string }
  | { readonly object: Readonly<Record<string, FieldSpec>>; readonly goType: string };

const IP_RULE: FieldSpec = {
  object: { prefix: 'string', ports: { list: 'int', goType: '[]int' }, allow: 'bool' },
  goType: 'config.IngressIPRule',
};

/** cloudflared's `config.OriginRequestConfig` (release 2026.8), key by key. */
export const ORIGIN_REQUEST_FIELDS: Readonly<Record<string, FieldSpec>> = {
  connectTimeout: 'duration',
  connectRetryTimeout: 'duration',
  tlsTimeout: 'duration',
  tcpKeepAlive: 'duration',
  noHappyEyeballs: 'bool',
  keepAliveConnections: 'int',
  keepAliveTimeout: 'duration',
  httpHostHeader: 'string',
  originServerName: 'string',
  matchSNItoHost: 'bool',
  caPool: 'string',
  noTLSVerify: 'bool',
  disableChunkedEncoding: 'bool',
  bastionMode: 'bool',
  proxyAddress: 'string',
  proxyPort: 'uint',
  proxyType: 'string',
  ipRules: { list: IP_RULE, goType: '[]config.IngressIPRule' },
  http2Origin: 'bool',
  access: {
    object: {
      required: 'bool',
      teamName: 'string',
      audTag: { list: 'string', goType: '[]string' },
      environment: 'string',
    },
    goType: 'config.AccessConfig',
  },
};

/** {@link ORIGIN_REQUEST_FIELDS} as the YAML decoder sees it: which values are Go strings. */
function shapeOf(spec: FieldSpec): GoShape {
  if (spec === 'string') return 'string';
  if (typeof spec !== 'object') return 'other';
  if ('list' in spec) return { list: shapeOf(spec.list) };
  return { object: Object.fromEntries(Object.entries(spec.object).map(([k, v]) => [k, shapeOf(v)])) };
}

const ORIGIN_REQUEST_SPEC: FieldSpec = { object: ORIGIN_REQUEST_FIELDS, goType: 'config.OriginRequestConfig' };

/** Where `config.OriginRequestConfig` has Go strings (a plain scalar there keeps its text). */
export const ORIGIN_REQUEST_SHAPE: GoShape = shapeOf(ORIGIN_REQUEST_SPEC);

/**
 * The strings yaml.v3 decodes into a Go `bool` besides the booleans its resolver already made
 * (YAML 1.1 compatibility, decode.go): `noTLSVerify: yes` and `noTLSVerify: "yes"` are true.
 * `true`/`false` are not here: unquoted they already are booleans, and a quoted `"true"` is a
 * string yaml.v3 refuses ("cannot unmarshal !!str `true` into bool").
 */
const YAML_TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const YAML_FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** The boolean cloudflared reads from a value, or null when it is not one. */
export function goBool(value: unknown, format: IngressFormat): boolean | null {
  if (typeof value === 'boolean') return value;
  if (format !== 'json' && typeof value === 'string') {
    if (YAML_TRUE.has(value)) return true;
    if (YAML_FALSE.has(value)) return false;
  }
  return null;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** yaml.v3's short tag for a decoded value, as its type errors print it. */
function yamlTag(value: unknown): string {
  if (Array.isArray(value)) return '!!seq';
  if (isPlainObject(value)) return '!!map';
  if (typeof value === 'boolean') return '!!bool';
  if (typeof value === 'number') return Number.isInteger(value) ? '!!int' : '!!float';
  return '!!str';
}

function yamlTypeError(value: unknown, goType: string): string {
  const tag = yamlTag(value);
  if (tag === '!!seq' || tag === '!!map') return `cannot unmarshal ${tag} into ${goType}`;
  const text = String(value);
  const shown = text.length > 10 ? `${text.slice(0, 7)}...` : text;
  return `cannot unmarshal ${tag} \`${shown}\` into ${goType}`;
}

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (isPlainObject(value)) return 'object';
  return typeof value;
}

const GO_TYPE: Record<Exclude<FieldSpec, object>, string> = {
  duration: 'time.Duration',
  bool: 'bool',
  int: 'int',
  uint: 'uint',
  uint64: 'uint64',
  string: 'string',
};

/** Largest |seconds| a JSON duration may have: int64 nanoseconds (2^63 ns). */
const MAX_JSON_DURATION_SECONDS = 2 ** 63 / 1e9;

interface Sink {
  readonly ruleNumber: number | null;
  readonly format: IngressFormat;
  readonly errors: IngressProblem[];
  readonly warnings: IngressProblem[];
}

function typeProblem(sink: Sink, field: string, code: IngressProblemCode, human: string, cloudflared: string) {
  sink.errors.push(problem({ ruleNumber: sink.ruleNumber, code, field, message: human, cloudflared }));
}

function describeValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function checkValue(value: unknown, spec: FieldSpec, field: string, sink: Sink): void {
  if (value === null || value === undefined) return; // Go leaves the zero value / nil pointer.
  const { format } = sink;
  if (typeof spec === 'object') {
    if ('list' in spec) {
      if (!Array.isArray(value)) {
        const why =
          format === 'json'
            ? `json: cannot unmarshal ${jsonKind(value)} into Go value of type ${spec.goType}`
            : yamlTypeError(value, spec.goType);
        typeProblem(sink, field, 'invalid-value', `${field} must be a list (got ${describeValue(value)})`, why);
        return;
      }
      value.forEach((item, i) => {
        checkValue(item, spec.list, `${field}[${i}]`, sink);
      });
      return;
    }
    if (!isPlainObject(value)) {
      const why =
        format === 'json'
          ? `json: cannot unmarshal ${jsonKind(value)} into Go value of type ${spec.goType}`
          : yamlTypeError(value, spec.goType);
      typeProblem(sink, field, 'invalid-value', `${field} must be a mapping (got ${describeValue(value)})`, why);
      return;
    }
    checkObject(value, spec.object, spec.goType, field, sink);
    return;
  }
  const goType = GO_TYPE[spec];
  const fail = (expected: string, jsonWhy?: string) =>
    typeProblem(
      sink,
      field,
      'invalid-value',
      `${field} must be ${expected} (got ${describeValue(value)})`,
      format === 'json'
        ? (jsonWhy ?? `json: cannot unmarshal ${jsonKind(value)} into Go value of type ${goType}`)
        : yamlTypeError(value, goType),
    );
  switch (spec) {
    case 'duration': {
      if (typeof value === 'number' && format !== 'yaml') {
        if (!Number.isFinite(value) || Math.abs(value) > MAX_JSON_DURATION_SECONDS) {
          fail('a number of seconds within range', `json: duration ${value} is out of range`);
        }
        return;
      }
      if (typeof value === 'string' && format !== 'json') {
        const parsed = parseGoDuration(value);
        if (!parsed.ok) fail('a Go duration string such as "30s" or "1m30s"');
        return;
      }
      fail(format === 'json' ? 'a number of seconds' : 'a Go duration string such as "30s" or "1m30s"');
      return;
    }
    case 'bool':
      if (goBool(value, format) === null) fail(format === 'json' ? 'true or false' : 'a boolean (true/false, yes/no)');
      return;
    case 'int':
    case 'uint':
    case 'uint64': {
      const integral =
        format === 'json' ? Number.isInteger(value) : typeof value === 'number' && Number.isFinite(value);
      if (typeof value !== 'number' || !integral || (spec !== 'int' && value < 0)) {
        fail(spec === 'int' ? 'an integer' : 'a non-negative integer');
      }
      return;
    }
    case 'string':
      if (typeof value === 'string') return;
      if (format !== 'json' && (typeof value === 'number' || typeof value === 'boolean')) return;
      fail('a string');
      return;
  }
}

function checkObject(
  value: Record<string, unknown>,
  fields: Readonly<Record<string, FieldSpec>>,
  goType: string,
  path: string,
  sink: Sink,
): void {
  const names = Object.keys(fields);
  for (const [key, child] of Object.entries(value)) {
    // encoding/json matches keys case-insensitively; yaml.v3 exactly.
    const name = sink.format === 'json' ? names.find((n) => n.toLowerCase() === key.toLowerCase()) : fields[key] && key;
    const field = `${path}.${key}`;
    if (!name) {
      sink.warnings.push(
        problem({
          ruleNumber: sink.ruleNumber,
          code: 'unknown-key',
          field,
          message: `unknown key ${JSON.stringify(key)} in ${path} (cloudflared ignores it)`,
          cloudflared: `field ${key} not found in type ${goType}`,
        }),
      );
      continue;
    }
    const spec = fields[name];
    if (spec) checkValue(child, spec, field, sink);
  }
}

/**
 * Type-checks any decoded value against a field spec the way cloudflared's decoder would (for
 * top-level sections such as `warp-routing`): unknown keys are warnings, wrong types errors.
 */
export function checkDecoded(
  value: unknown,
  spec: FieldSpec,
  field: string,
  format: IngressFormat,
  errors: IngressProblem[],
  warnings: IngressProblem[],
): void {
  checkValue(value, spec, field, { ruleNumber: null, format, errors, warnings });
}

/**
 * Type-checks an `originRequest` mapping the way cloudflared's decoder would: unknown keys are
 * warnings, values of the wrong type are errors.
 */
export function checkOriginRequest(
  value: unknown,
  ruleNumber: number | null,
  format: IngressFormat,
  errors: IngressProblem[],
  warnings: IngressProblem[],
): void {
  checkValue(value, ORIGIN_REQUEST_SPEC, 'originRequest', { ruleNumber, format, errors, warnings });
}

/** cloudflared's checks on `originRequest` values once decoded: retry timeout sign. */
export function retryTimeoutProblem(
  value: unknown,
  ruleNumber: number | null,
  format: IngressFormat,
): IngressProblem | null {
  if (!isPlainObject(value) || !isNegativeDuration(lookup(value, 'connectRetryTimeout', format), format)) return null;
  return problem({
    ruleNumber,
    code: 'invalid-value',
    field: 'originRequest.connectRetryTimeout',
    message: 'originRequest.connectRetryTimeout must not be negative',
    cloudflared: 'connectRetryTimeout must not be negative',
  });
}

/** cloudflared's `validateAccessConfiguration`: a required Access check needs its team name. */
export function accessProblem(value: unknown, ruleNumber: number | null, format: IngressFormat): IngressProblem | null {
  const access = isPlainObject(value) ? lookup(value, 'access', format) : undefined;
  if (!isPlainObject(access) || goBool(lookup(access, 'required', format), format) !== true) return null;
  const team = lookup(access, 'teamName', format);
  const aud = lookup(access, 'audTag', format);
  if (!((team === undefined || team === null || team === '') && Array.isArray(aud) && aud.length > 0)) return null;
  return problem({
    ruleNumber,
    code: 'invalid-access',
    field: 'originRequest.access.teamName',
    message: 'originRequest.access.teamName cannot be blank when access.audTag is present',
    cloudflared: 'access.TeamName cannot be blank when access.audTags are present',
  });
}

/** A key of a decoded mapping, matched the way the format's decoder matches it. */
export function lookup(value: Record<string, unknown>, key: string, format: IngressFormat): unknown {
  if (format !== 'json') return value[key];
  const lower = key.toLowerCase();
  const found = Object.keys(value).find((k) => k.toLowerCase() === lower);
  return found === undefined ? undefined : value[found];
}

function isNegativeDuration(value: unknown, format: IngressFormat): boolean {
  if (typeof value === 'number') return format !== 'yaml' && value < 0;
  if (typeof value === 'string' && format !== 'json') {
    const parsed = parseGoDuration(value);
    return parsed.ok && parsed.value < 0n;
  }
  return false;
}
