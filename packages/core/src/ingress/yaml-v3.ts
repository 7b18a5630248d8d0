import { type Document, isAlias, isMap, isScalar, isSeq, type Node, visit } from 'yaml';

/*
 * cloudflared reads config.yml with gopkg.in/yaml.v3, the `yaml` library reads it for us. The
 * two agree on the syntax of almost every file but not on what a plain scalar means: yaml.v3's
 * resolver (resolve.go) reads `0777` as octal, `1_000` and `0b101` as integers, `08` as a
 * float and `2001-12-14` as a timestamp, and its scanner only allows `[A-Za-z0-9_-]` in anchor
 * and alias names (so an unquoted `*.example.com` is a syntax error, not an alias). This
 * module gives a parsed `yaml` document the meaning yaml.v3 gives the same text.
 */

/** The tag yaml.v3's resolver gives a plain scalar, and its value. */
export type GoResolved =
  | { readonly tag: '!!null'; readonly value: null }
  | { readonly tag: '!!bool'; readonly value: boolean }
  | { readonly tag: '!!int'; readonly value: number }
  | { readonly tag: '!!float'; readonly value: number }
  | { readonly tag: '!!timestamp'; readonly value: string }
  | { readonly tag: '!!merge'; readonly value: '<<' }
  | { readonly tag: '!!str'; readonly value: string };

const RESOLVE_MAP: ReadonlyMap<string, GoResolved> = new Map<string, GoResolved>([
  ...['true', 'True', 'TRUE'].map((k) => [k, { tag: '!!bool', value: true }] as const),
  ...['false', 'False', 'FALSE'].map((k) => [k, { tag: '!!bool', value: false }] as const),
  ...['', '~', 'null', 'Null', 'NULL'].map((k) => [k, { tag: '!!null', value: null }] as const),
  ...['.nan', '.NaN', '.NAN'].map((k) => [k, { tag: '!!float', value: Number.NaN }] as const),
  ...['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].map(
    (k) => [k, { tag: '!!float', value: Number.POSITIVE_INFINITY }] as const,
  ),
  ...['-.inf', '-.Inf', '-.INF'].map((k) => [k, { tag: '!!float', value: Number.NEGATIVE_INFINITY }] as const),
  ['<<', { tag: '!!merge', value: '<<' }],
]);

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const MAX_UINT64 = (1n << 64n) - 1n;
const MIN_INT64 = -(1n << 63n);

/** Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` acceptance (after yaml.v3 dropped `_`). */
function goParseIntBase0(text: string): number | null {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return null;
  const digits = m[2] as string;
  let magnitude: bigint;
  if (/^0[oO]/.test(digits)) magnitude = BigInt(`0o${digits.slice(2)}`);
  else if (/^0[0-7]+$/.test(digits)) magnitude = BigInt(`0o${digits.slice(1)}`);
  else magnitude = BigInt(digits);
  const value = m[1] === '-' ? -magnitude : magnitude;
  if (value < MIN_INT64 || value > MAX_UINT64) return null;
  return Number(value);
}

/** Go's `time.Parse` with yaml.v3's timestamp layouts, close enough to say "a timestamp". */
const TIMESTAMP =
  /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}))|(?: [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?))?$/;

/** yaml.v3's `resolve("", text)`: what a plain (unquoted, untagged) scalar means. */
export function resolvePlainScalar(text: string): GoResolved {
  const first = text[0] ?? '';
  const known = RESOLVE_MAP.get(text);
  if (known) return known;
  if (first === '.') {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text)) return { tag: '!!float', value: Number(text) };
    return { tag: '!!str', value: text };
  }
  if (!/^[-+0-9]/.test(first)) return { tag: '!!str', value: text };
  if (TIMESTAMP.test(text)) return { tag: '!!timestamp', value: text };
  const plain = text.replaceAll('_', '');
  const int = goParseIntBase0(plain);
  if (int !== null) return { tag: '!!int', value: int };
  if (YAML_STYLE_FLOAT.test(plain)) return { tag: '!!float', value: Number(plain) };
  const binary = /^(-?)0b([01]+)$/.exec(plain);
  if (binary) {
    const v = BigInt(`0b${binary[2]}`) * (binary[1] === '-' ? -1n : 1n);
    if (v >= MIN_INT64 && v <= MAX_UINT64) return { tag: '!!int', value: Number(v) };
  }
  const octal = /^(-?)0o([0-7]+)$/.exec(plain);
  if (octal) {
    const v = BigInt(`0o${octal[2]}`) * (octal[1] === '-' ? -1n : 1n);
    if (v >= MIN_INT64 && v <= MAX_UINT64) return { tag: '!!int', value: Number(v) };
  }
  return { tag: '!!str', value: text };
}

/** A YAML problem yaml.v3 has with the text, at an offset into it. */
export class YamlV3Error extends Error {
  constructor(
    message: string,
    /** What yaml.v3 (and so cloudflared) says, e.g. `yaml: line 3: did not find expected …`. */
    readonly goMessage: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const V3_NAME = /^[A-Za-z0-9_-]+$/;

/** The 1-based line of an offset (yaml.v3 counts lines the same way). */
const lineOf = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

/**
 * The problems yaml.v3's scanner and composer have with a document the `yaml` library parsed
 * without complaint: anchor and alias names outside `[A-Za-z0-9_-]` (an unquoted
 * `hostname: *.example.com` is the common case) and aliases to anchors not yet defined.
 */
export function yamlV3Problems(doc: Document, text: string): YamlV3Error[] {
  const out: YamlV3Error[] = [];
  const badName = (offset: number, kind: string) => {
    const line = lineOf(text, offset);
    out.push(
      new YamlV3Error(
        `${kind} names may only use letters, digits, "-" and "_" (quote a value that starts with "*" or "&", such as "*.example.com")`,
        `yaml: line ${line}: did not find expected alphabetic or numeric character`,
        offset,
      ),
    );
  };
  visit(doc, {
    Node(_, node) {
      const anchor = (node as { anchor?: string }).anchor;
      if (anchor !== undefined && !V3_NAME.test(anchor)) {
        const start = node.range?.[0] ?? 0;
        const at = text.lastIndexOf(`&${anchor}`, start);
        badName(at < 0 ? start : at, 'Anchor');
      }
      if (isAlias(node)) {
        const offset = node.range?.[0] ?? 0;
        if (!V3_NAME.test(node.source)) badName(offset, 'Alias');
        else if (node.resolve(doc) === undefined) {
          out.push(
            new YamlV3Error(
              `the alias *${node.source} names no anchor defined before it`,
              `yaml: unknown anchor '${node.source}' referenced`,
              offset,
            ),
          );
        }
      }
    },
  });
  return out;
}

const MAX_DEPTH = 200;

/**
 * The value yaml.v3 decodes from a node into a Go `interface{}`-like shape: plain scalars
 * resolved by {@link resolvePlainScalar} (timestamps stay text), quoted and block scalars are
 * strings, aliases and merge keys (`<<`) resolved. Throws {@link YamlV3Error} on an alias
 * with no anchor or on aliases nested too deep.
 */
export function goYamlValue(node: unknown, doc: Document, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new YamlV3Error('aliases nest too deep', 'yaml: exceeded max depth', 0);
  if (node === null || node === undefined) return null;
  if (isAlias(node)) {
    const target = node.resolve(doc);
    if (target === undefined) {
      throw new YamlV3Error(
        `the alias *${node.source} names no anchor`,
        `yaml: unknown anchor '${node.source}' referenced`,
        node.range?.[0] ?? 0,
      );
    }
    return goYamlValue(target, doc, depth + 1);
  }
  if (isScalar(node)) return scalarValue(node);
  if (isSeq(node)) return node.items.map((item) => goYamlValue(item, doc, depth + 1));
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    const merged: Record<string, unknown>[] = [];
    for (const pair of node.items) {
      if (isMergeKey(pair.key)) {
        const value = goYamlValue(pair.value, doc, depth + 1);
        for (const m of Array.isArray(value) ? value : [value]) {
          if (m !== null && typeof m === 'object' && !Array.isArray(m)) merged.push(m as Record<string, unknown>);
        }
        continue;
      }
      const key = goYamlValue(pair.key, doc, depth + 1);
      out[key === null ? '' : String(key)] = goYamlValue(pair.value, doc, depth + 1);
    }
    // Keys written in the mapping win over merged ones; earlier merges win over later ones.
    for (const m of merged) for (const [k, v] of Object.entries(m)) if (!(k in out)) out[k] = v;
    return out;
  }
  return (node as Node).toJS?.(doc) ?? null;
}

/** `<<` as a key (the `yaml` library keeps it as a Scalar holding `<<` or a symbol). */
export function isMergeKey(key: unknown): boolean {
  return (
    isScalar(key) &&
    key.type === 'PLAIN' &&
    (key.value === '<<' || typeof key.value === 'symbol' || key.source === '<<') &&
    !key.tag
  );
}

function scalarValue(node: {
  value: unknown;
  type?: string | undefined;
  source?: string | undefined;
  tag?: string | undefined;
}): unknown {
  if (node.tag) {
    if (node.tag.endsWith(':str') || node.tag === '!!str') return node.value === null ? '' : String(node.value);
    return node.value;
  }
  if (node.type !== undefined && node.type !== 'PLAIN') return node.value === null ? '' : String(node.value);
  const text = typeof node.source === 'string' ? node.source : node.value === null ? '' : String(node.value);
  const resolved = resolvePlainScalar(text);
  return resolved.tag === '!!merge' ? '<<' : resolved.value;
}

/** Go's `%T` for what yaml.v3 decodes a node into when the target is `interface{}`. */
export function goInterfaceType(node: unknown, doc: Document): string {
  let current: unknown = node;
  for (let i = 0; isAlias(current) && i < MAX_DEPTH; i++) current = current.resolve(doc);
  if (current === null || current === undefined) return '<nil>';
  if (isSeq(current)) return '[]interface {}';
  if (isMap(current)) return 'map[string]interface {}';
  if (!isScalar(current)) return '<nil>';
  if (current.tag || (current.type !== undefined && current.type !== 'PLAIN')) {
    const v = scalarValue(current);
    if (typeof v === 'string') return 'string';
    if (typeof v === 'boolean') return 'bool';
    if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
    return v === null ? '<nil>' : 'string';
  }
  const text = typeof current.source === 'string' ? current.source : String(current.value ?? '');
  const r = resolvePlainScalar(text);
  switch (r.tag) {
    case '!!null':
      return '<nil>';
    case '!!bool':
      return 'bool';
    case '!!int':
      return Math.abs(r.value) > 2 ** 63 - 1 ? 'uint64' : 'int';
    case '!!float':
      return 'float64';
    case '!!timestamp':
      return 'time.Time';
    default:
      return 'string';
  }
}

/** The shape of a Go struct for {@link goYamlTyped}: which keys are Go strings, and nesting. */
export type GoShape =
  | 'string'
  | 'other'
  | { readonly list: GoShape }
  | { readonly object: Readonly<Record<string, GoShape>> };

/**
 * {@link goYamlValue}, except that a plain scalar decoded into a Go `string` field keeps its
 * text, as yaml.v3 does (`httpHostHeader: 0x10` is the string "0x10", not 16).
 */
export function goYamlTyped(node: unknown, doc: Document, shape: GoShape, depth = 0): unknown {
  let current: unknown = node;
  for (let i = 0; isAlias(current) && i < MAX_DEPTH; i++) current = current.resolve(doc);
  if (shape === 'string' && isScalar(current) && current.value !== null && current.value !== undefined) {
    if (!current.tag && current.type === 'PLAIN' && typeof current.source === 'string') return current.source;
  }
  const value = goYamlValue(node, doc, depth);
  if (typeof shape !== 'object' || depth > MAX_DEPTH) return value;
  if ('list' in shape) {
    if (!isSeq(current) || !Array.isArray(value)) return value;
    return current.items.map((item) => goYamlTyped(item, doc, shape.list, depth + 1));
  }
  if (!isMap(current) || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out = { ...(value as Record<string, unknown>) };
  for (const pair of current.items) {
    if (!isScalar(pair.key) || isMergeKey(pair.key)) continue;
    const key = String(pair.key.value);
    const child = shape.object[key];
    if (child !== undefined && child !== 'other') out[key] = goYamlTyped(pair.value, doc, child, depth + 1);
  }
  return out;
}

/**
 * Quotes every string scalar of a document built for writing whose plain form yaml.v3 would
 * read as something else (`1_000`, `0b1`, `08`, `2001-12-14`): the `yaml` library (YAML 1.2
 * core) sees no need to, and cloudflared would then read a number or a timestamp.
 */
export function quoteForYamlV3(doc: Document | Node): void {
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value !== 'string' || node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') return;
      if (resolvePlainScalar(node.value).tag !== '!!str' || !V3_PLAIN_SAFE.test(node.value)) {
        node.type = 'QUOTE_DOUBLE';
      }
    },
  });
}

/** Strings that start like no YAML indicator: anything else is left to the library's own quoting. */
const V3_PLAIN_SAFE = /^[^*&!|>'"%@`#,[\]{}]/;

/**
 * `value` as yaml.v3 hands it back once written: a number or boolean in a Go `string` field
 * becomes its text (cloudflared reads `originServerName: 1.5` as the string "1.5"). Writing
 * this form, rather than the number, is what lets a written rule read back as itself.
 */
export function asGoStrings(value: unknown, shape: GoShape): unknown {
  if (shape === 'string') {
    return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : value;
  }
  if (typeof shape !== 'object' || value === null || typeof value !== 'object') return value;
  if ('list' in shape) return Array.isArray(value) ? value.map((v) => asGoStrings(v, shape.list)) : value;
  if (Array.isArray(value)) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const child = shape.object[k];
    out[k] = child === undefined ? v : asGoStrings(v, child);
    if (out[k] !== v) changed = true;
  }
  return changed ? out : value;
}
