/** What kind of problem an {@link IngressProblem} is. Stable: callers may branch on it. */
export type IngressProblemCode =
  /** The configuration has no ingress rules at all. */
  | 'no-rules'
  /** The last rule has a hostname or a path. */
  | 'last-rule-not-catch-all'
  /** A rule other than the last one matches every request. */
  | 'catch-all-not-last'
  /** A `*` somewhere other than the first character of the hostname. */
  | 'hostname-wildcard'
  /** The hostname has a `:port` (as Go's `net.SplitHostPort` reads it). */
  | 'hostname-port'
  /** The path is not a valid RE2 regular expression. */
  | 'invalid-path-regex'
  /** The service is not a URL with a scheme and host, or the URL does not parse. */
  | 'invalid-service'
  /** `http_status:` is not followed by an integer from 100 to 999. */
  | 'invalid-http-status'
  /** The service URL has a path (a trailing `/` counts). */
  | 'service-has-path'
  /** A `socks-proxy` rule's `ipRules` entry is invalid. */
  | 'invalid-ip-rule'
  /** `originRequest.access` requires a team name it does not have. */
  | 'invalid-access'
  /** A value has the wrong type for cloudflared's decoder (e.g. a bare number as a duration). */
  | 'invalid-value'
  /** The rule list or a rule is not shaped like cloudflared's (not a list, not a mapping). */
  | 'invalid-structure'
  /** Two settings cloudflared refuses together (a top-level `url` beside ingress rules). */
  | 'flag-conflict'
  /** The YAML does not parse (as cloudflared's yaml.v3 reads it). */
  | 'yaml-syntax'
  /** The configuration file does not exist. */
  | 'missing-file'
  /** A key cloudflared does not know (a warning: cloudflared ignores it and warns). */
  | 'unknown-key';

/** One problem found in an ingress configuration, numbered the way cloudflared numbers it. */
export interface IngressProblem {
  /** 1-based, as in cloudflared's "Rule #N" validation messages; null for the whole config. */
  readonly ruleNumber: number | null;
  /** For people: names the rule ("Rule #2: …") and says what is wrong. */
  readonly message: string;
  /** What kind of problem this is. Always set by core's validator and parsers. */
  readonly code?: IngressProblemCode;
  /**
   * What cloudflared itself prints for this problem: after `Validation failed: ` for an
   * `ingress validate` error, in its decoder's error list for a type error or unknown key.
   * Always set by core's validator and parsers.
   */
  readonly cloudflared?: string;
  /** The key the problem is about, e.g. `service` or `originRequest.connectTimeout`. */
  readonly field?: string;
  /** 1-based line in the YAML file, when the rules were read from one. */
  readonly line?: number;
  /** 1-based column in the YAML file, when the rules were read from one. */
  readonly column?: number;
}

/** Builds a problem; the human message gets the rule number unless it already names it. */
export function problem(input: {
  ruleNumber: number | null;
  code: IngressProblemCode;
  cloudflared: string;
  message?: string;
  field?: string;
}): IngressProblem & { readonly code: IngressProblemCode; readonly cloudflared: string } {
  const base = input.message ?? input.cloudflared;
  const n = input.ruleNumber;
  const message = n === null || base.includes(`Rule #${n} `) ? base : `Rule #${n}: ${base}`;
  return {
    ruleNumber: n,
    code: input.code,
    message,
    cloudflared: input.cloudflared,
    ...(input.field === undefined ? {} : { field: input.field }),
  };
}

/** One line per problem, with its position when known: for error messages and warnings. */
export function formatProblem(p: IngressProblem): string {
  return p.line === undefined ? p.message : `${p.message} (line ${p.line}, column ${p.column ?? 1})`;
}
