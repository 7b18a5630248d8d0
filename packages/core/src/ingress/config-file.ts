import {
  Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type Scalar,
  visit,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import type { IngressRule } from '../domain/ingress.js';
import { isInstanceId } from '../domain/instance.js';
import { formatRuleMark, type OwnerMark, parseOwnerMark, toManaged } from '../domain/owner-mark.js';
import { TunnelError } from '../errors.js';
import { configurationFieldProblems, topLevelSettingProblems, urlWithIngressProblem } from './cli-flags.js';
import { ORIGIN_REQUEST_SHAPE } from './origin-request.js';
import { parseIngressRules } from './parse.js';
import { type IngressProblem, problem } from './problems.js';
import { deepFreeze, frozenRule, sameRule, sameValue } from './rules.js';
import { isValidOwner, MANAGED_SERVICE_PATTERN } from './safety.js';
import { validateIngressRules } from './validate.js';
import { asGoStrings, goYamlTyped, goYamlValue, quoteForYamlV3, YamlV3Error, yamlV3Problems } from './yaml-v3.js';

/*
 * cloudflared's `config.yml`, read and rewritten as text. Reading uses the `yaml` Document API
 * (with yaml.v3's merge keys); rewriting splices the text of the `ingress` list: every rule that
 * stays keeps its exact bytes (and the comment lines above it), new rules are rendered with the
 * list's own indentation and line endings, and nothing outside the list is touched.
 */

/**
 * How a block-style `ingress` list is laid out, for splicing. Entry `k` (the rule `rules[k]`)
 * is the whole lines from the one holding its `-` to its last one, newline included:
 * `[starts[k], ends[k])`.
 */
export interface BlockLayout {
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Rule-level keys cloudflared does not know, by entry (only entries that have some). */
  readonly unknownKeys: ReadonlyMap<number, readonly string[]>;
  /** Where the list's lines begin: the start of the line after `ingress:`. */
  readonly regionStart: number;
  /** Spaces before each `-`. */
  readonly dashColumn: number;
  readonly newline: '\n' | '\r\n';
  /**
   * No anchors, aliases, explicit tags or merge keys inside the list: each entry's text means
   * the same wherever it stands, so a splice can be checked entry by entry.
   */
  readonly selfContained: boolean;
}

export interface ParsedConfigFile {
  readonly text: string;
  readonly rules: readonly IngressRule[];
  /** The top-level `originRequest` as decoded (the rules' defaults). */
  readonly originRequest: unknown;
  /** Syntax, structure and validation errors, positioned in the file. Empty when cloudflared accepts it. */
  readonly errors: readonly IngressProblem[];
  readonly warnings: readonly IngressProblem[];
  /** Present when the list is block-style and can be spliced. */
  readonly layout: BlockLayout | null;
  /** There is a root mapping without an `ingress` key (or an empty file): a list can be appended. */
  readonly appendable: boolean;
}

const PARSE_OPTIONS = { merge: true, prettyErrors: true, uniqueKeys: true, keepSourceTokens: true } as const;

/** 1-based line and column of `offset` in `text`. */
export function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line += 1;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

const lineStartOf = (text: string, offset: number) => text.lastIndexOf('\n', offset - 1) + 1;

function lineEndAfter(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  return nl === -1 ? text.length : nl + 1;
}

/** The text of a scalar as yaml.v3 hands it to a Go string: plain scalars keep their source. */
function scalarText(node: Scalar): string | null {
  if (node.value === null || node.value === undefined) return null;
  if (node.type === 'PLAIN' && typeof node.source === 'string') return node.source;
  return typeof node.value === 'string' ? node.value : String(node.value);
}

/** The mark comment on an entry's first line (`- hostname: a.com # tunnel-manager:alpha@vm-1`). */
function ownerOf(item: YAMLMap, text: string): OwnerMark | null {
  const first = item.items[0];
  if (!isPair(first) || !isScalar(first.value) || !first.value.comment) return null;
  const range = first.value.range;
  if (!range || text.slice(range[1], range[2]).split('#')[0]?.includes('\n')) return null;
  return parseOwnerMark(first.value.comment.trim());
}

/** `<<` (yaml keeps it as a Scalar holding a symbol when merge keys are on). */
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key.value === '<<' || typeof key.value === 'symbol' || key.source === '<<');
}

/** The decoded value of one entry, with hostname/path/service as yaml.v3 reads them into strings. */
function rawEntry(node: unknown, doc: Document): unknown {
  if (!isMap(node)) return goYamlValue(node, doc);
  // Merge keys (`<<: *base`) are resolved by goYamlValue; plain-scalar source text is lost there.
  if (node.items.some((pair) => isMergeKey(pair.key))) return goYamlValue(node, doc);
  const out: Record<string, unknown> = {};
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const value = pair.value;
    if ((key === 'hostname' || key === 'path' || key === 'service') && isScalar(value)) {
      out[key] = scalarText(value);
    } else {
      out[key] = key === 'originRequest' ? goYamlTyped(value, doc, ORIGIN_REQUEST_SHAPE) : goYamlValue(value, doc);
    }
  }
  return out;
}

function hasContextDependentSyntax(seq: YAMLSeq): boolean {
  let found = false;
  visit(seq, {
    Node(_, node) {
      if (isAlias(node) || (node as { anchor?: string }).anchor || (node as { tag?: string }).tag) found = true;
      return found ? visit.BREAK : undefined;
    },
    Pair(_, pair) {
      if (isMergeKey(pair.key)) found = true;
      return found ? visit.BREAK : undefined;
    },
  });
  return found;
}

/** Lays out a block `ingress` list as line chunks, or null when its layout is unusual. */
function blockLayout(text: string, keyEnd: number, seq: YAMLSeq, unknown: string[][]): BlockLayout | null {
  if (seq.flow || seq.items.length === 0) return null;
  const regionStart = lineEndAfter(text, keyEnd);
  // The CST knows where each `-` is; entries without one are comment lines after the last entry.
  const tokens =
    seq.srcToken?.type === 'block-seq'
      ? seq.srcToken.items.filter((item) => item.start.some((t) => t.type === 'seq-item-ind'))
      : null;
  if (!tokens || tokens.length !== seq.items.length) return null;
  // Null items (`-` alone) are no rules: their lines belong to the gap above the next entry.
  const nullLines = new Set<number>();
  const entries: { node: Node; dash: number }[] = [];
  for (let i = 0; i < seq.items.length; i++) {
    const dash = tokens[i]?.start.find((t) => t.type === 'seq-item-ind')?.offset;
    if (dash === undefined) return null;
    const node = seq.items[i] as Node | null;
    if (isNullItem(node)) {
      const end = node?.range ? node.range[1] : dash + 1;
      if (text.slice(dash, end).includes('\n')) return null;
      nullLines.add(lineStartOf(text, dash));
    } else if (node) entries.push({ node, dash });
    else return null;
  }
  const count = entries.length;
  if (count === 0) return null;
  const starts = new Int32Array(count);
  const ends = new Int32Array(count);
  const unknownKeys = new Map<number, readonly string[]>();
  let dashColumn = -1;
  let previousEnd = regionStart;
  const gapIsEmpty = (from: number, to: number) => {
    for (let at = from; at < to; ) {
      const next = lineEndAfter(text, at);
      const line = text.slice(at, Math.min(next, to)).trim();
      if (line !== '' && !line.startsWith('#') && !nullLines.has(at)) return false;
      at = next;
    }
    return true;
  };
  for (let i = 0; i < count; i++) {
    const { node, dash } = entries[i] as { node: Node; dash: number };
    const range = node.range;
    if (!range) return null;
    const start = lineStartOf(text, dash);
    if (text.slice(start, dash).trim() !== '') return null;
    if (dashColumn === -1) dashColumn = dash - start;
    if (dash - start !== dashColumn || start < previousEnd) return null;
    if (!gapIsEmpty(previousEnd, start)) return null;
    const contentEnd = Math.max(range[1], range[2]);
    const end = contentEnd > 0 && text[contentEnd - 1] === '\n' ? contentEnd : lineEndAfter(text, contentEnd);
    starts[i] = start;
    ends[i] = end;
    if ((unknown[i]?.length ?? 0) > 0) unknownKeys.set(i, unknown[i] as string[]);
    previousEnd = end;
  }
  return {
    starts,
    ends,
    unknownKeys,
    regionStart,
    dashColumn,
    newline: text.includes('\r\n') ? '\r\n' : '\n',
    selfContained: !hasContextDependentSyntax(seq),
  };
}

/** The key node a field path (`originRequest.ipRules[0].prefix`) names inside `node`, if it is there. */
function locate(node: unknown, field: string): Node | null {
  let current: unknown = node;
  let found: Node | null = null;
  for (const part of field.split('.')) {
    const [, key, indexes] = /^([^[]*)((?:\[\d+\])*)$/.exec(part) ?? [];
    if (!isMap(current) || key === undefined) return found;
    const pair = current.items.find((item) => isScalar(item.key) && item.key.value === key);
    if (!pair) return found;
    found = pair.key as Node;
    current = pair.value;
    for (const [, i] of (indexes ?? '').matchAll(/\[(\d+)\]/g)) {
      if (!isSeq(current)) return found;
      current = current.items[Number(i)];
      if (current && (current as Node).range) found = current as Node;
    }
  }
  return found;
}

function yamlError(text: string, error: { message: string; pos: [number, number] }): IngressProblem {
  const where = positionOf(text, error.pos[0]);
  const first = error.message.split('\n')[0] ?? error.message;
  return {
    ...problem({
      ruleNumber: null,
      code: 'yaml-syntax',
      cloudflared: `yaml: ${first}`,
      message: `The YAML does not parse: ${first}`,
    }),
    line: where.line,
    column: where.column,
  };
}

/** A type error of yaml.v3's decoder (reported before anything else cloudflared checks). */
const isDecoderProblem = (p: IngressProblem) => p.code === 'invalid-value' || p.code === 'invalid-structure';

/** A list item yaml.v3 decodes as null (`-` alone, `- ~`, `- null`): cloudflared skips it. */
function isNullItem(node: unknown): boolean {
  if (node === null || node === undefined) return true;
  if (!isScalar(node) || node.value !== null) return false;
  return !node.tag || node.tag.endsWith(':null');
}

function positioned(p: IngressProblem, text: string, offset: number): IngressProblem {
  return { ...p, ...positionOf(text, offset) };
}

/** A problem yaml.v3 has that the `yaml` library does not (see yaml-v3.ts), positioned. */
function yamlV3Problem(text: string, error: YamlV3Error): IngressProblem {
  return positioned(
    problem({
      ruleNumber: null,
      code: 'yaml-syntax',
      cloudflared: error.goMessage,
      message: `The YAML does not parse as cloudflared reads it: ${error.message}`,
    }),
    text,
    error.offset,
  );
}

/**
 * Parses a cloudflared `config.yml`: its rules (with the owner marks of managed rules), its
 * top-level `originRequest`, every problem cloudflared would have with it (positioned in the
 * file), and how its `ingress` list is laid out for rewriting. Never throws for what a file
 * holds: every YAML problem is a `yaml-syntax` error with its line and column.
 */
export function parseConfigFile(text: string, options: { validate?: boolean } = {}): ParsedConfigFile {
  try {
    return parseConfigFileText(text, options);
  } catch (error) {
    const offset = error instanceof YamlV3Error ? error.offset : 0;
    const why =
      error instanceof YamlV3Error
        ? error
        : new YamlV3Error(error instanceof Error ? error.message : String(error), 'yaml: cannot decode', offset);
    return {
      text,
      rules: [],
      originRequest: undefined,
      warnings: [],
      layout: null,
      errors: [yamlV3Problem(text, why)],
      appendable: false,
    };
  }
}

function parseConfigFileText(text: string, options: { validate?: boolean }): ParsedConfigFile {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter });
  const empty = { text, rules: [], originRequest: undefined, warnings: [], layout: null };
  if (!Array.isArray(parsed) || parsed.length === 0) {
    return { ...empty, errors: validateIngressRules([]).errors, appendable: true };
  }
  const doc = parsed[0] as Document.Parsed;
  if (doc.errors.length > 0) {
    return { ...empty, errors: doc.errors.map((e) => yamlError(text, e)), appendable: false };
  }
  const v3 = yamlV3Problems(doc, text);
  if (v3.length > 0) return { ...empty, errors: v3.map((e) => yamlV3Problem(text, e)), appendable: false };
  const root = doc.contents;
  if (root !== null && !isMap(root)) {
    const where = positionOf(text, root.range?.[0] ?? 0);
    return {
      ...empty,
      errors: [
        {
          ...problem({
            ruleNumber: null,
            code: 'invalid-structure',
            message: 'The configuration must be a mapping of settings (tunnel, ingress, …).',
            cloudflared: `cannot unmarshal ${isSeq(root) ? '!!seq' : '!!str'} into config.configFileSettings`,
          }),
          ...where,
        },
      ],
      appendable: false,
    };
  }
  const pairs = root?.items ?? [];
  const ingressPair = pairs.find((p) => isScalar(p.key) && p.key.value === 'ingress');
  const originPair = pairs.find((p) => isScalar(p.key) && p.key.value === 'originRequest');
  const originRequest = originPair?.value ? goYamlTyped(originPair.value, doc, ORIGIN_REQUEST_SHAPE) : undefined;
  const seqNode = ingressPair?.value;
  // yaml.v3 drops a null list item when it decodes into a struct: cloudflared never sees it.
  const itemNodes = isSeq(seqNode) ? (seqNode.items as unknown[]).filter((n) => !isNullItem(n)) : [];
  const raw = isSeq(seqNode) ? itemNodes.map((n) => rawEntry(n, doc)) : seqNode ? goYamlValue(seqNode, doc) : undefined;
  const read = parseIngressRules(raw, { format: 'yaml' });
  const unknown: string[][] = itemNodes.map(() => []);
  for (const w of read.warnings) if (w.ruleNumber !== null && w.field) unknown[w.ruleNumber - 1]?.push(w.field);
  const rules = read.rules.map((rule, i) => {
    const node = itemNodes[i];
    const mark = isMap(node) ? ownerOf(node, text) : null;
    return deepFreeze(mark === null ? rule : { ...rule, managed: toManaged(mark) });
  });
  const settings = options.validate === false ? [] : topLevelSettingProblems(pairs, doc);
  const fields = options.validate === false ? { errors: [], warnings: [] } : configurationFieldProblems(pairs, doc);
  let validation: { errors: readonly IngressProblem[]; warnings: readonly IngressProblem[] } =
    read.errors.length > 0 || options.validate === false
      ? { errors: read.errors, warnings: [] }
      : validateIngressRules(rules, { format: 'yaml', ...(originRequest === undefined ? {} : { originRequest }) });
  if (fields.errors.length > 0 || fields.warnings.length > 0) {
    // Decoder errors: cloudflared reports them together and never reaches the rules.
    const decoderOnly = fields.errors.length > 0 ? validation.errors.filter(isDecoderProblem) : validation.errors;
    validation = {
      errors: [...fields.errors, ...decoderOnly],
      warnings: [...fields.warnings, ...validation.warnings],
    };
  }
  const locatedAt = new Map<IngressProblem, unknown>();
  for (const s of settings) locatedAt.set(s.problem, s.node);
  if (settings.length > 0 || validation.errors.length > 0) {
    // cloudflared meets its decoder's type errors first, then its flags', then the rules'.
    const decoder = validation.errors.filter(isDecoderProblem);
    const rest = validation.errors.filter((e) => !decoder.includes(e));
    validation = { ...validation, errors: [...decoder, ...settings.map((s) => s.problem), ...rest] };
  } else if (options.validate !== false) {
    const conflict = urlWithIngressProblem(pairs, doc);
    if (conflict) {
      locatedAt.set(conflict.problem, conflict.node);
      validation = { ...validation, errors: [conflict.problem] };
    }
  }
  const position = (p: IngressProblem): IngressProblem => {
    let node: unknown = p.ruleNumber === null ? root : itemNodes[p.ruleNumber - 1];
    if (locatedAt.has(p)) node = locatedAt.get(p);
    else if (
      p.code === 'no-rules' ||
      p.code === 'last-rule-not-catch-all' ||
      p.code === 'catch-all-not-last' ||
      !p.field
    ) {
      if (p.ruleNumber === null) node = ingressPair?.key ?? root;
    } else {
      node = locate(node, p.field) ?? node;
    }
    const offset = (node as Node | null)?.range?.[0];
    if (offset === undefined) return p;
    const at = lineCounter.linePos(offset);
    return { ...p, line: at.line, column: at.col };
  };
  const layout =
    isSeq(seqNode) && ingressPair && isScalar(ingressPair.key) && ingressPair.key.range
      ? blockLayout(text, ingressPair.key.range[1], seqNode, unknown)
      : null;
  return {
    text,
    rules: Object.freeze(rules),
    originRequest,
    errors: [...validation.errors].map(position),
    warnings: [...read.warnings, ...validation.warnings].map(position),
    layout,
    appendable: ingressPair === undefined && parsed.length === 1,
  };
}

/**
 * Lower-case punycode hostnames whose last label starts with a letter: plain YAML scalars that
 * no resolver (YAML 1.1 or 1.2) reads as anything but a string — unlike `1.5e3` or `0.0`.
 */
const PLAIN_HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/**
 * …except a float with an exponent: `0.e0`, `1.2.e-3` end in a label that starts with a letter,
 * yet YAML reads them as numbers (found by the property test below, seed -1471727313).
 */
const FLOAT_WITH_EXPONENT = /^[0-9.]+e-?[0-9]+$/;

/**
 * Whether a rule is the simple managed kind — canonical hostname, a service from the managed
 * grammar, an owner fit for a mark, nothing else — whose entry is written from a template.
 * Every value such a rule can hold is a plain YAML scalar that yaml.v3 and the `yaml` library
 * read back unchanged (no indicator first, no `: ` or ` #` inside, no line break), which a
 * property test over the whole grammar checks.
 */
export function isTemplateRule(rule: IngressRule): boolean {
  return (
    rule.managed !== undefined &&
    rule.path === undefined &&
    rule.originRequest === undefined &&
    isValidOwner(rule.managed.owner) &&
    (rule.managed.instance === undefined || isInstanceId(rule.managed.instance)) &&
    typeof rule.hostname === 'string' &&
    rule.hostname.length <= 253 &&
    PLAIN_HOSTNAME.test(rule.hostname) &&
    !FLOAT_WITH_EXPONENT.test(rule.hostname) &&
    MANAGED_SERVICE_PATTERN.test(rule.service)
  );
}

/** Renders one rule as list-entry lines at `dashColumn`; a managed rule's owner mark ends its first line. */
export function renderRuleEntry(rule: IngressRule, dashColumn: number, newline: string): string {
  const pad = ' '.repeat(dashColumn);
  if (isTemplateRule(rule)) {
    const mark = formatRuleMark(rule.managed ?? { owner: '' });
    return `${pad}- hostname: ${rule.hostname} # ${mark}${newline}${pad}  service: ${rule.service}${newline}`;
  }
  const body: Record<string, unknown> = {};
  if (rule.hostname) body.hostname = rule.hostname;
  if (rule.path) body.path = rule.path;
  body.service = rule.service;
  if (rule.originRequest !== undefined && rule.originRequest !== null) body.originRequest = rule.originRequest;
  const doc = new Document([body], { version: '1.2' });
  quoteForYamlV3(doc);
  if (rule.managed) {
    const entry = (doc.contents as YAMLSeq).items[0] as YAMLMap;
    const first = entry.items[0];
    if (isPair(first) && isScalar(first.value)) first.value.comment = ` ${formatRuleMark(rule.managed)}`;
  }
  const lines = doc.toString({ lineWidth: 0, indent: 2, indentSeq: true }).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => (line === '' ? line : pad + line)).join(newline) + newline;
}

function invalidRewrite(message: string, problems: readonly IngressProblem[] = []): TunnelError {
  return new TunnelError('INGRESS_INVALID', message, {
    hint: 'Nothing was written. Fix the rules named above and try again.',
    details: { problems },
  });
}

/** Whether `entry` (rendered at `dashColumn`) reads back as exactly `rule` and nothing more. */
function entryReadsBack(entry: string, rule: IngressRule, newline: string): boolean {
  const mini = `ingress:${newline}${entry}`;
  const parsed = parseConfigFile(mini, { validate: false });
  const layout = parsed.layout;
  return (
    parsed.errors.length === 0 &&
    parsed.rules.length === 1 &&
    sameRule(parsed.rules[0] as IngressRule, rule) &&
    layout !== null &&
    layout.starts.length === 1 &&
    layout.starts[0] === layout.regionStart &&
    layout.ends[0] === mini.length &&
    layout.unknownKeys.size === 0
  );
}

function unknownKeyWarnings(text: string, layout: BlockLayout): IngressProblem[] {
  const out: IngressProblem[] = [];
  for (const [index, keys] of layout.unknownKeys) {
    for (const key of keys) {
      out.push({
        ...problem({
          ruleNumber: index + 1,
          code: 'unknown-key',
          field: key,
          message: `unknown key ${JSON.stringify(key)} (cloudflared ignores it)`,
          cloudflared: `field ${key} not found in type config.UnvalidatedIngressRule`,
        }),
        ...positionOf(text, layout.starts[index] ?? 0),
      });
    }
  }
  return out;
}

interface Spliced {
  readonly text: string;
  readonly rules: IngressRule[];
  readonly layout: BlockLayout;
  readonly fresh: { entry: string; rule: IngressRule }[];
}

/** `array` with `value` inserted at `at` (or removed there when `value` is null). */
function withChange(array: Int32Array, at: number, value: number | null, shiftFrom: number, by: number): Int32Array {
  const out = new Int32Array(array.length + (value === null ? -1 : 1));
  if (value === null) {
    out.set(array.subarray(0, at));
    out.set(array.subarray(at + 1), at);
  } else {
    out.set(array.subarray(0, at));
    out[at] = value;
    out.set(array.subarray(at), at + 1);
  }
  for (let j = shiftFrom; j < out.length; j++) out[j] = (out[j] as number) + by;
  return out;
}

/**
 * The common write — one rule added or one removed, every other rule the very object the file
 * was read as — as one text splice, without walking the list: the same text {@link splice}
 * makes, in constant time per kept rule. Null when the change is anything else.
 */
function spliceOneChange(
  file: ParsedConfigFile,
  layout: BlockLayout,
  desired: readonly IngressRule[],
  checkNewRule: (rule: IngressRule, index: number) => void,
): Spliced | null {
  const { text, rules } = file;
  const { starts, ends, regionStart, newline } = layout;
  const count = starts.length;
  if (Math.abs(desired.length - count) !== 1 || count !== rules.length) return null;
  let i = 0;
  while (i < count && i < desired.length && desired[i] === rules[i]) i++;
  const remapUnknown = (shift: (k: number) => number | null) => {
    const out = new Map<number, readonly string[]>();
    for (const [k, keys] of layout.unknownKeys) {
      const to = shift(k);
      if (to !== null) out.set(to, keys);
    }
    return out;
  };
  if (desired.length === count - 1) {
    for (let j = i; j < desired.length; j++) if (desired[j] !== rules[j + 1]) return null;
    // The general walk would keep the first of two equal rules; keep to its choice.
    if (i + 1 < count && sameRule(rules[i] as IngressRule, rules[i + 1] as IngressRule)) return null;
    const from = starts[i] as number;
    const to = ends[i] as number;
    return {
      text: text.slice(0, from) + text.slice(to),
      rules: [...desired],
      layout: {
        ...layout,
        starts: withChange(starts, i, null, i, from - to),
        ends: withChange(ends, i, null, i, from - to),
        unknownKeys: remapUnknown((k) => (k === i ? null : k > i ? k - 1 : k)),
      },
      fresh: [],
    };
  }
  for (let j = i; j < count; j++) if (desired[j + 1] !== rules[j]) return null;
  const rule = desired[i] as IngressRule;
  for (let k = i; k < count; k++) if (sameRule(rules[k] as IngressRule, rule)) return null;
  checkNewRule(rule, i);
  const at = i === 0 ? regionStart : (ends[i - 1] as number);
  const lead = at > 0 && text[at - 1] !== '\n' ? newline : '';
  const entry = renderRuleEntry(rule, layout.dashColumn, newline);
  const start = at + lead.length;
  const added = lead.length + entry.length;
  const next = [...desired];
  next[i] = frozenRule(rule);
  return {
    text: text.slice(0, at) + lead + entry + text.slice(at),
    rules: next,
    layout: {
      ...layout,
      starts: withChange(starts, i, start, i + 1, added),
      ends: withChange(ends, i, start + entry.length, i + 1, added),
      unknownKeys: remapUnknown((k) => (k >= i ? k + 1 : k)),
    },
    fresh: [{ entry, rule }],
  };
}

/**
 * Splices `desired` into a block list. Kept entries keep their bytes and the comment lines
 * above them; runs of entries that stay in order are copied as one slice.
 */
function splice(
  file: ParsedConfigFile,
  layout: BlockLayout,
  desired: readonly IngressRule[],
  checkNewRule: (rule: IngressRule, index: number) => void,
): Spliced {
  const quick = spliceOneChange(file, layout, desired, checkNewRule);
  if (quick) return quick;
  const { text, rules } = file;
  const { starts, ends, regionStart, newline } = layout;
  const count = starts.length;
  const used = new Uint8Array(count);
  const matches = new Int32Array(desired.length);
  let cursor = 0;
  desired.forEach((rule, i) => {
    let k = -1;
    for (let j = cursor; j < count && k < 0; j++) if (!used[j] && sameRule(rules[j] as IngressRule, rule)) k = j;
    for (let j = 0; j < cursor && k < 0; j++) if (!used[j] && sameRule(rules[j] as IngressRule, rule)) k = j;
    if (k >= 0) {
      used[k] = 1;
      cursor = k + 1;
    }
    matches[i] = k;
  });
  const gapStart = (k: number) => (k === 0 ? regionStart : (ends[k - 1] as number));

  const pieces: string[] = [];
  let length = 0; // of the pieces
  let runStart = 0; // a range of `text` not yet copied into the pieces
  let runEnd = regionStart;
  const outLength = () => length + runEnd - runStart;
  const endsWithNewline = () =>
    runEnd > runStart ? text[runEnd - 1] === '\n' : pieces.at(-1)?.endsWith('\n') !== false;
  const flushRun = () => {
    if (runEnd > runStart) {
      pieces.push(text.slice(runStart, runEnd));
      length += runEnd - runStart;
    }
    runStart = runEnd = 0;
  };
  const newlineIfNeeded = () => {
    if (outLength() > 0 && !endsWithNewline()) {
      flushRun();
      pieces.push(newline);
      length += newline.length;
    }
  };
  /** Copies `text[from, to)`: extends the current run when it continues it. */
  const copy = (from: number, to: number) => {
    if (to <= from) return;
    if (runEnd > runStart && from === runEnd) {
      runEnd = to;
      return;
    }
    newlineIfNeeded();
    flushRun();
    runStart = from;
    runEnd = to;
  };
  const write = (piece: string) => {
    newlineIfNeeded();
    flushRun();
    pieces.push(piece);
    length += piece.length;
  };

  let gapsFlushed = 0; // the gaps above entries [0, gapsFlushed) that left are written
  const flushRemovedGaps = (upTo: number) => {
    for (; gapsFlushed < upTo; gapsFlushed++)
      if (!used[gapsFlushed]) copy(gapStart(gapsFlushed), starts[gapsFlushed] as number);
  };
  const newStarts = new Int32Array(desired.length);
  const newEnds = new Int32Array(desired.length);
  const newUnknown = new Map<number, readonly string[]>();
  const newRules: IngressRule[] = new Array(desired.length);
  const fresh: { entry: string; rule: IngressRule }[] = [];
  desired.forEach((rule, i) => {
    const k = matches[i] as number;
    if (k >= 0) {
      flushRemovedGaps(k);
      copy(gapStart(k), starts[k] as number);
      const extendsRun = runEnd > runStart && runEnd === starts[k];
      if (!extendsRun) newlineIfNeeded();
      newStarts[i] = outLength();
      copy(starts[k] as number, ends[k] as number);
      newEnds[i] = outLength();
      newRules[i] = rules[k] as IngressRule;
      const unknown = layout.unknownKeys.get(k);
      if (unknown) newUnknown.set(i, unknown);
      return;
    }
    checkNewRule(rule, i);
    // Comment lines above entries that left before the next kept one go above the new entry:
    // when a rule is replaced (its service changed), its comments stay with it.
    let nextKept = count;
    for (let j = i + 1; j < desired.length && nextKept === count; j++)
      if ((matches[j] as number) >= 0) nextKept = matches[j] as number;
    flushRemovedGaps(nextKept);
    const entry = renderRuleEntry(rule, layout.dashColumn, newline);
    newlineIfNeeded();
    newStarts[i] = outLength();
    write(entry);
    newEnds[i] = outLength();
    newRules[i] = frozenRule(rule);
    fresh.push({ entry, rule });
  });
  flushRemovedGaps(count);
  copy(ends[count - 1] as number, text.length);
  flushRun();
  const next: BlockLayout = { ...layout, starts: newStarts, ends: newEnds, unknownKeys: newUnknown };
  return { text: pieces.join(''), rules: newRules, layout: next, fresh };
}

function fullyVerified(candidate: string, desired: readonly IngressRule[]): ParsedConfigFile {
  const reread = parseConfigFile(candidate);
  if (reread.errors.length > 0) {
    throw invalidRewrite(
      `The rewritten configuration would not be valid: ${reread.errors.map((e) => e.message).join('; ')}.`,
      reread.errors,
    );
  }
  if (reread.rules.length !== desired.length || !reread.rules.every((r, i) => sameRule(r, desired[i] as IngressRule))) {
    throw new TunnelError('INTERNAL', 'The rewritten configuration does not read back as the rules asked for.', {
      hint: 'Nothing was written. This is a bug in Tunnel Manager; please report it with the rules you wrote.',
    });
  }
  return reread;
}

/**
 * The configuration text with its ingress list replaced by `desired`, and the parsed form of
 * that text. Rules already in the file keep their bytes; everything outside the list is left
 * byte-for-byte. The candidate is checked before it is returned: the rules must pass
 * cloudflared's validation, each newly rendered entry must read back as exactly its rule, and
 * when a quick check is not enough (anchors in the list, no list yet) the whole text is parsed
 * again and compared. Throws `INGRESS_INVALID` (nothing to write) when the rules are invalid.
 * `checkNewRule` sees each rule that is not already in the file before it is rendered.
 */
export function rewriteIngress(
  file: ParsedConfigFile,
  requested: readonly IngressRule[],
  checkNewRule: (rule: IngressRule, index: number) => void = () => {},
): ParsedConfigFile {
  const desired = asWrittenInYaml(requested);
  const validate = () => {
    const validation = validateIngressRules(desired, {
      format: 'yaml',
      ...(file.originRequest === undefined ? {} : { originRequest: file.originRequest }),
    });
    if (validation.errors.length > 0) {
      throw invalidRewrite(
        `Refusing to write ingress rules cloudflared would reject: ${validation.errors.map((e) => e.message).join('; ')}.`,
        validation.errors,
      );
    }
    return validation;
  };
  const layout = file.layout;
  if (layout) {
    const next = splice(file, layout, desired, checkNewRule);
    const validation = validate();
    for (const { entry, rule } of next.fresh) {
      // Template entries are safe by construction (see isTemplateRule); the rest are re-read.
      if (!isTemplateRule(rule) && !entryReadsBack(entry, rule, layout.newline)) {
        throw invalidRewrite(
          `The rule for ${JSON.stringify(rule.hostname ?? rule.service)} cannot be written as YAML that reads back unchanged.`,
        );
      }
    }
    if (!layout.selfContained) return fullyVerified(next.text, desired);
    return {
      text: next.text,
      rules: Object.freeze(next.rules),
      originRequest: file.originRequest,
      errors: [],
      warnings: [...validation.warnings, ...unknownKeyWarnings(next.text, next.layout)],
      layout: next.layout,
      appendable: false,
    };
  }
  if (file.appendable) {
    const newline = file.text.includes('\r\n') ? '\r\n' : '\n';
    const head = file.text === '' || file.text.endsWith('\n') ? file.text : file.text + newline;
    const entries = desired.map((rule) => renderRuleEntry(rule, 2, newline)).join('');
    return fullyVerified(`${head}ingress:${newline}${entries}`, desired);
  }
  return fullyVerified(rewriteWithDocument(file, desired), desired);
}

/**
 * The rules as cloudflared will read them once written: a number or boolean in a string field
 * of `originRequest` is its text. Unchanged rules (nearly all) are passed through as they are.
 */
function asWrittenInYaml(rules: readonly IngressRule[]): readonly IngressRule[] {
  let out: IngressRule[] | null = null;
  rules.forEach((rule, i) => {
    if (rule.originRequest === undefined || rule.originRequest === null) return;
    const origin = asGoStrings(rule.originRequest, ORIGIN_REQUEST_SHAPE);
    if (origin === rule.originRequest) return;
    out ??= [...rules];
    out[i] = { ...rule, originRequest: origin as Record<string, unknown> };
  });
  return out ?? rules;
}

/** For lists the splice cannot handle (flow style, empty, odd layout): rebuild them with the Document API. */
function rewriteWithDocument(file: ParsedConfigFile, desired: readonly IngressRule[]): string {
  const parsed = parseAllDocuments(file.text, PARSE_OPTIONS);
  if (!Array.isArray(parsed) || parsed.length !== 1) {
    throw invalidRewrite('The configuration file holds several YAML documents; it cannot be rewritten safely.');
  }
  const doc = parsed[0] as Document.Parsed;
  if (doc.errors.length > 0 || (doc.contents !== null && !isMap(doc.contents))) {
    throw invalidRewrite('The configuration file is not a YAML mapping; it cannot be rewritten safely.');
  }
  const seq = doc.createNode(
    desired.map((rule) => {
      const body: Record<string, unknown> = {};
      if (rule.hostname) body.hostname = rule.hostname;
      if (rule.path) body.path = rule.path;
      body.service = rule.service;
      if (rule.originRequest !== undefined && rule.originRequest !== null) body.originRequest = rule.originRequest;
      return body;
    }),
  ) as YAMLSeq;
  desired.forEach((rule, i) => {
    const entry = seq.items[i] as YAMLMap;
    const first = entry.items[0];
    if (rule.managed && isPair(first) && isScalar(first.value)) {
      first.value.comment = ` ${formatRuleMark(rule.managed)}`;
    }
  });
  seq.flow = false;
  quoteForYamlV3(seq);
  doc.set('ingress', seq);
  const text = doc.toString({ lineWidth: 0, indent: 2, indentSeq: true });
  const before = doc.toJS() as Record<string, unknown>;
  const after = (parseAllDocuments(text, PARSE_OPTIONS) as Document.Parsed[])[0]?.toJS() as Record<string, unknown>;
  const { ingress: _a, ...restBefore } = before ?? {};
  const { ingress: _b, ...restAfter } = after ?? {};
  if (!sameValue(restBefore, restAfter)) {
    throw new TunnelError('INTERNAL', 'Rewriting the ingress list would change other settings.', {
      hint: 'Nothing was written. Convert the `ingress` list to block style (one `- ` per rule) and retry.',
    });
  }
  return text;
}
