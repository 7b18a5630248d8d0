import { type Document, isScalar, isSeq, type Pair } from 'yaml';
import { parseGoDuration } from './go-compat.js';
import { checkDecoded, type FieldSpec } from './origin-request.js';
import { type IngressProblem, problem } from './problems.js';
import { goInterfaceType, goYamlValue } from './yaml-v3.js';

/*
 * Every top-level key of config.yml that is not one of cloudflared's `config.Configuration`
 * fields lands in a `map[string]interface{}` (configFileSettings.Settings), and urfave/cli's
 * altsrc reads each of cloudflared's flags from it through a typed getter
 * (config/configuration.go: Int, Duration, String, StringSlice, Bool). A value of the wrong
 * type there stops cloudflared before it reads a single ingress rule.
 */

type FlagType = 'string' | 'bool' | 'int' | 'duration' | 'stringSlice';

/**
 * The flags cloudflared 2026.8 reads from its configuration file (`altsrc.New…Flag` in
 * cmd/cloudflared/tunnel/cmd.go, subcommands.go, cliutil/logger.go, proxydns/cmd.go), by name.
 * `path` flags read as strings.
 */
export const CLOUDFLARED_FILE_FLAGS: Readonly<Record<string, FlagType>> = {
  loglevel: 'string',
  'transport-loglevel': 'string',
  logfile: 'string',
  'log-directory': 'string',
  'trace-output': 'string',
  'proxy-dns': 'bool',
  'proxy-dns-port': 'int',
  'proxy-dns-address': 'string',
  'proxy-dns-upstream': 'stringSlice',
  'proxy-dns-max-upstream-conns': 'int',
  'proxy-dns-bootstrap': 'stringSlice',
  'is-autoupdated': 'bool',
  edge: 'stringSlice',
  region: 'string',
  'edge-ip-version': 'string',
  'edge-bind-address': 'string',
  cacert: 'string',
  hostname: 'string',
  id: 'string',
  'lb-pool': 'string',
  'api-key': 'string',
  'api-email': 'string',
  'api-ca-key': 'string',
  'api-url': 'string',
  'metrics-update-freq': 'duration',
  tag: 'stringSlice',
  'heartbeat-interval': 'duration',
  'heartbeat-count': 'int',
  'max-edge-addr-retries': 'int',
  retries: 'int',
  'ha-connections': 'int',
  'rpc-timeout': 'duration',
  'write-stream-timeout': 'duration',
  'quic-disable-pmtu-discovery': 'bool',
  'quic-connection-level-flow-control-limit': 'int',
  'quic-stream-level-flow-control-limit': 'int',
  label: 'string',
  'grace-period': 'duration',
  'compression-quality': 'int',
  'use-reconnect-token': 'bool',
  'dial-edge-timeout': 'duration',
  'stdin-control': 'bool',
  name: 'string',
  ui: 'bool',
  'quick-service': 'string',
  'max-fetch-size': 'int',
  'post-quantum': 'bool',
  'management-diagnostics': 'bool',
  origincert: 'string',
  'autoupdate-freq': 'duration',
  'no-autoupdate': 'bool',
  'no-prechecks': 'bool',
  metrics: 'string',
  pidfile: 'string',
  url: 'string',
  'hello-world': 'bool',
  socks5: 'bool',
  'proxy-connect-timeout': 'duration',
  'proxy-tls-timeout': 'duration',
  'proxy-tcp-keepalive': 'duration',
  'proxy-no-happy-eyeballs': 'bool',
  'proxy-keepalive-connections': 'int',
  'proxy-keepalive-timeout': 'duration',
  'proxy-connection-timeout': 'duration',
  'proxy-expect-continue-timeout': 'duration',
  'http-host-header': 'string',
  'origin-server-name': 'string',
  'unix-socket': 'string',
  'origin-ca-pool': 'string',
  'no-tls-verify': 'bool',
  'no-chunked-encoding': 'bool',
  'http2-origin': 'bool',
  'management-hostname': 'string',
  'service-op-ip': 'string',
  'local-ssh-port': 'string',
  'ssh-idle-timeout': 'duration',
  'ssh-max-timeout': 'duration',
  'bucket-name': 'string',
  'region-name': 'string',
  'secret-id': 'string',
  'access-key-id': 'string',
  'session-token': 'string',
  's3-url-host': 'string',
  'host-key-path': 'string',
  'ssh-server': 'bool',
  bastion: 'bool',
  'proxy-address': 'string',
  'proxy-port': 'int',
  features: 'stringSlice',
  'credentials-file': 'string',
  'credentials-contents': 'string',
  token: 'string',
  'token-file': 'string',
  protocol: 'string',
};

/** Keys yaml.v3 decodes into `config.Configuration`'s own fields: they never reach the flags. */
const CONFIGURATION_FIELDS = new Set(['tunnel', 'ingress', 'warp-routing', 'originRequest']);

/** Go's `%v` of a decoded scalar, for the one getter message that prints the value. */
function goFormat(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goFormat).join(' ')}]`;
  if (typeof value === 'object')
    return `map[${Object.entries(value)
      .map(([k, v]) => `${k}:${goFormat(v)}`)
      .join(' ')}]`;
  return String(value);
}

/** The getter's error for one setting, or null when cloudflared reads it. */
function flagError(name: string, type: FlagType, pair: Pair, doc: Document): string | null {
  const goType = goInterfaceType(pair.value, doc);
  switch (type) {
    case 'string':
      return goType === 'string' ? null : `expected string found ${goType} for ${name}`;
    case 'bool':
      return goType === 'bool' ? null : `expected boolean found ${goType} for ${name}`;
    case 'int':
      return goType === 'int' ? null : `expected int found ${goType} for ${name}`;
    case 'duration': {
      if (goType !== 'string') return `expected duration found ${goType} for ${name}`;
      const parsed = parseGoDuration(String(goYamlValue(pair.value, doc)));
      return parsed.ok ? null : parsed.error;
    }
    case 'stringSlice': {
      if (goType !== '[]interface {}') return `expected string slice found ${goType} for ${name}`;
      const node = pair.value;
      const items = isSeq(node) ? node.items : [];
      for (const item of items) {
        if (goInterfaceType(item, doc) !== 'string') {
          // cloudflared formats the index's type and the value here (`%T … %v` of i, v).
          return `expected string, found int for ${goFormat(goYamlValue(item, doc))}`;
        }
      }
      return null;
    }
  }
}

const HUMAN: Record<FlagType, string> = {
  string: 'a string',
  bool: 'true or false',
  int: 'an integer',
  duration: 'a Go duration such as "30s"',
  stringSlice: 'a list of strings',
};

export interface TopLevelSettingProblem {
  readonly problem: IngressProblem;
  /** The node to position the problem on. */
  readonly node: unknown;
}

/**
 * The problems cloudflared's flag getters have with the top-level settings of a config file,
 * in file order: a value of the wrong type for the flag its key names.
 */
export function topLevelSettingProblems(pairs: readonly Pair[], doc: Document): TopLevelSettingProblem[] {
  const out: TopLevelSettingProblem[] = [];
  for (const pair of pairs) {
    const name = isScalar(pair.key) ? String(pair.key.value) : null;
    if (name === null || CONFIGURATION_FIELDS.has(name)) continue;
    const type = CLOUDFLARED_FILE_FLAGS[name];
    if (type === undefined) continue;
    const why = flagError(name, type, pair, doc);
    if (why === null) continue;
    out.push({
      problem: problem({
        ruleNumber: null,
        code: 'invalid-value',
        field: name,
        message: `${name} must be ${HUMAN[type]}: cloudflared reads it as its --${name} flag and stops with "${why}"`,
        cloudflared: why,
      }),
      // An empty value has no text of its own: point at the key.
      node: isScalar(pair.value) && pair.value.value === null ? pair.key : (pair.value ?? pair.key),
    });
  }
  return out;
}

/** `config.Configuration`'s own fields besides `ingress` and `originRequest`, as yaml.v3 decodes them. */
const CONFIGURATION_SPECS: Readonly<Record<string, FieldSpec>> = {
  tunnel: 'string',
  'warp-routing': {
    object: { connectTimeout: 'duration', maxActiveFlows: 'uint64', tcpKeepAlive: 'duration' },
    goType: 'config.WarpRoutingConfig',
  },
};

/**
 * The decoder's type errors (and unknown-key warnings) for `tunnel` and `warp-routing`, which
 * yaml.v3 decodes into typed fields before cloudflared looks at anything else.
 */
export function configurationFieldProblems(
  pairs: readonly Pair[],
  doc: Document,
): { errors: IngressProblem[]; warnings: IngressProblem[] } {
  const errors: IngressProblem[] = [];
  const warnings: IngressProblem[] = [];
  for (const pair of pairs) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '';
    const spec = CONFIGURATION_SPECS[name];
    if (spec === undefined) continue;
    checkDecoded(goYamlValue(pair.value, doc), spec, name, 'yaml', errors, warnings);
  }
  return { errors, warnings };
}

/**
 * `cloudflared tunnel ingress validate`'s check after the rules are valid
 * (cmd/cloudflared/tunnel/ingress_subcommands.go): a non-empty `url` setting cannot be combined
 * with ingress rules. (`tunnel run` ignores such a `url`; the validator takes the stricter
 * verdict, which is the one users run to check a file.)
 */
export function urlWithIngressProblem(pairs: readonly Pair[], doc: Document): TopLevelSettingProblem | null {
  const pair = pairs.find((p) => isScalar(p.key) && p.key.value === 'url');
  if (!pair || goInterfaceType(pair.value, doc) !== 'string' || goYamlValue(pair.value, doc) === '') return null;
  return {
    problem: problem({
      ruleNumber: null,
      code: 'flag-conflict',
      field: 'url',
      message: 'url cannot be set together with ingress rules: remove the top-level url (the rules name each service)',
      cloudflared: "You can't set the --url flag (or $TUNNEL_URL) when using multiple-origin ingress rules",
    }),
    node: pair.key,
  };
}
