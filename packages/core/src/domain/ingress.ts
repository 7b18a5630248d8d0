/**
 * One cloudflared ingress rule, in the shape both `config.yml` and the remote tunnel
 * configuration use. Stores keep rules they did not write exactly as they found them.
 */
export interface IngressRule {
  /** Absent on the catch-all. Managed rules always use lower-case punycode. */
  readonly hostname?: string;
  /** An RE2 regular expression, matched unanchored against the request path. */
  readonly path?: string;
  /** `http://host:port`, `unix:/path`, `http_status:404`, `hello_world`, … */
  readonly service: string;
  /** Per-rule origin options, passed through untouched. */
  readonly originRequest?: Readonly<Record<string, unknown>>;
  /**
   * Present on rules the manager wrote: who owns them, and which instance wrote the rule (absent
   * on a legacy mark). Stores persist both (comment or mark).
   */
  readonly managed?: { readonly owner: string; readonly instance?: string };
}
