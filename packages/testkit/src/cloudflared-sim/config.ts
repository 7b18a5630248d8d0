import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseIngressConfig } from '@tunnel/core';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { parseGoDuration } from './duration.js';

/** The part of a cloudflared `config.yml` the simulation acts on. */
export interface SimConfig {
  /** null when cloudflared found no config file. */
  readonly path: string | null;
  /** sha256 of the file as read at start: tells a test which version of the file runs. */
  readonly sha256: string | null;
  readonly tunnel: string | null;
  /** `credentials-file:` as written (read when the tunnel starts, see `resolveSimCredentials`). */
  readonly credentialsFile: string | null;
  /** `no-autoupdate:` (a flag set from the file, as cloudflared's altsrc does); null when absent. */
  readonly noAutoupdate: boolean | null;
  /** `autoupdate-freq:` as a Go duration in ms; null when absent. */
  readonly autoupdateFreqMs: number | null;
  /** Why the tunnel cannot start with these rules (cloudflared finds out after reading its credentials). */
  readonly startError: SimConfigError | null;
  /** The ingress rules as written (plain JSON), or the default 503 rule when there are none. */
  readonly ingress: readonly Record<string, unknown>[];
  /** False when the file has no ingress rules (cloudflared then answers 503 to everything). */
  readonly hasIngressRules: boolean;
  readonly originRequest: Readonly<Record<string, unknown>> | null;
  readonly warpRouting: Readonly<Record<string, unknown>> | null;
  /** Non-fatal findings cloudflared would log as warnings. */
  readonly warnings: readonly string[];
}

/**
 * A config cloudflared would refuse; `message` is what cloudflared prints. `stage` says whether
 * reading the file failed (cloudflared prints the error alone) or the tunnel could not start
 * with it (cloudflared logs `ERR Couldn't start tunnel error=…`).
 */
export class SimConfigError extends Error {
  constructor(
    message: string,
    readonly stage: 'read' | 'start' = 'read',
    /** Error lines cloudflared logs before it prints the message (e.g. about a bad credentials file). */
    readonly logs: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Where cloudflared looks for `config.yml` when `--config` is not given (Linux). */
export function defaultConfigPaths(): string[] {
  const home = homedir();
  return ['.cloudflared', '.cloudflare-warp', 'cloudflare-warp']
    .map((dir) => join(home, dir, 'config.yml'))
    .concat(['/etc/cloudflared/config.yml', '/usr/local/etc/cloudflared/config.yml']);
}

const NO_INGRESS_DEFAULT = [{ service: 'http_status:503' }];

/**
 * Reads and checks a config file the way `cloudflared tunnel run` does on start: YAML errors,
 * wrong types, then the ingress rules through core's cloudflared validator. Throws
 * SimConfigError with a cloudflared-like message.
 */
export function loadSimConfig(path: string | null, opts: { tunnelFromArgs: string | null }): SimConfig {
  const file = path ?? defaultConfigPaths().find((p) => existsSync(p)) ?? null;
  if (file === null) {
    return build(null, null, {}, opts.tunnelFromArgs, [], EMPTY_FLAGS);
  }
  let text: string;
  try {
    if (statSync(file).isDirectory()) {
      throw new SimConfigError(
        `error parsing YAML in config file at ${file}: yaml: input error: read ${file}: is a directory`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof SimConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new SimConfigError(
      code === 'ENOENT' ? `open ${file}: no such file or directory` : `open ${file}: ${(error as Error).message}`,
    );
  }
  const sha256 = createHash('sha256').update(text).digest('hex');
  const lines = new LineCounter();
  // go-yaml reads YAML 1.1 leniently for booleans (`yes`/`no`).
  const doc = parseDocument(text, { lineCounter: lines, version: '1.1', uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0]?.line;
    throw new SimConfigError(
      `error parsing YAML in config file at ${file}: yaml: ${line ? `line ${line}: ` : ''}${first.message.split('\n')[0]}`,
    );
  }
  const lineOf = (node: Node | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : 0);
  const unmarshal = (node: Node | null | undefined, expected: string) => {
    const tag = isMap(node) ? '!!map' : isSeq(node) ? '!!seq' : '!!str';
    return new SimConfigError(
      `error parsing YAML in config file at ${file}: yaml: unmarshal errors:\n  line ${lineOf(node)}: cannot unmarshal ${tag} into ${expected}`,
    );
  };
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) {
    // cloudflared logs "Configuration file … was empty" and carries on with no settings.
    return build(file, sha256, {}, opts.tunnelFromArgs, [`Configuration file ${file} was empty`], EMPTY_FLAGS);
  }
  if (!isMap(root)) throw unmarshal(root, 'config.configFileSettings');
  const scalarText = (key: string): string | null => {
    const node = root.get(key, true) as Node | undefined;
    if (node === undefined || (isScalar(node) && node.value === null)) return null;
    if (!isScalar(node)) throw unmarshal(node, 'string');
    return String(node.value);
  };
  const tunnel = scalarText('tunnel');
  const credentialsFile = scalarText('credentials-file');
  const ingressNode = root.get('ingress', true) as Node | undefined;
  const ruleNodes: Node[] = [];
  if (ingressNode !== undefined && !(isScalar(ingressNode) && ingressNode.value === null)) {
    if (!isSeq(ingressNode)) throw unmarshal(ingressNode, '[]config.UnvalidatedIngressRule');
    for (const item of ingressNode.items as Node[]) {
      if (!isMap(item)) throw unmarshal(item, 'config.UnvalidatedIngressRule');
      for (const key of ['hostname', 'path', 'service']) {
        const value = item.get(key, true) as Node | undefined;
        if (value !== undefined && !isScalar(value)) throw unmarshal(value, 'string');
      }
      const origin = item.get('originRequest', true) as Node | undefined;
      if (origin !== undefined && !isMap(origin) && !(isScalar(origin) && origin.value === null)) {
        throw unmarshal(origin, 'config.OriginRequestConfig');
      }
      ruleNodes.push(item);
    }
  }
  const data = doc.toJS() as Record<string, unknown>;
  const rawRules = (Array.isArray(data.ingress) ? data.ingress : []) as Record<string, unknown>[];
  const noAutoupdateNode = root.get('no-autoupdate', true) as Node | undefined;
  let noAutoupdate: boolean | null = null;
  if (noAutoupdateNode !== undefined && !(isScalar(noAutoupdateNode) && noAutoupdateNode.value === null)) {
    if (!isScalar(noAutoupdateNode) || typeof noAutoupdateNode.value !== 'boolean')
      throw unmarshal(noAutoupdateNode, 'bool');
    noAutoupdate = noAutoupdateNode.value;
  }
  const freqText = scalarText('autoupdate-freq');
  const autoupdateFreqMs = freqText === null ? null : parseGoDuration(freqText);
  if (freqText !== null && autoupdateFreqMs === null) {
    throw new SimConfigError(`time: invalid duration "${freqText}" for autoupdate-freq`);
  }
  const warnings: string[] = [];
  let startError: SimConfigError | null = null;
  if (rawRules.length > 0) {
    // cloudflared's own decoding and validation (YAML durations, top-level originRequest).
    const result = parseIngressConfig(data, { format: 'yaml' });
    const problem = result.errors[0];
    // Not thrown here: cloudflared parses the rules only once its credentials are found.
    if (problem) startError = new SimConfigError(problem.cloudflared ?? problem.message, 'start');
    for (const w of result.warnings) warnings.push(w.message);
  }
  // The tunnel named on the command line wins over the file's `tunnel:`, as in cloudflared.
  return build(
    file,
    sha256,
    data,
    opts.tunnelFromArgs ?? tunnel,
    warnings,
    { credentialsFile, noAutoupdate, autoupdateFreqMs, startError },
    rawRules,
  );
}

interface FileFlags {
  readonly credentialsFile: string | null;
  readonly noAutoupdate: boolean | null;
  readonly autoupdateFreqMs: number | null;
  readonly startError: SimConfigError | null;
}

const EMPTY_FLAGS: FileFlags = { credentialsFile: null, noAutoupdate: null, autoupdateFreqMs: null, startError: null };

function build(
  path: string | null,
  sha256: string | null,
  data: Record<string, unknown>,
  tunnel: string | null,
  warnings: string[],
  flags: FileFlags,
  rules: Record<string, unknown>[] = [],
): SimConfig {
  const asRecord = (v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  if (rules.length === 0) {
    warnings.push(
      'No ingress rules were defined in provided config (if any) nor from the cli, cloudflared will return 503 for all incoming HTTP requests',
    );
  }
  return {
    path,
    sha256,
    tunnel,
    ...flags,
    ingress: rules.length > 0 ? rules : NO_INGRESS_DEFAULT,
    hasIngressRules: rules.length > 0,
    originRequest: asRecord(data.originRequest),
    warpRouting: asRecord(data['warp-routing']),
    warnings,
  };
}
