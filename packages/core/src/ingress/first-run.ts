import type { IngressRule } from '../domain/ingress.js';
import type { ParsedConfigFile } from './config-file.js';

/*
 * The state cloudflared starts from. `cloudflared tunnel create` leaves a config.yml with only
 * `tunnel:` and `credentials-file:`, and a remotely-managed tunnel starts with no configuration
 * (version 0). cloudflared runs either ("No ingress rules were defined …, cloudflared will return
 * 503 for all incoming HTTP requests"), so the manager must take its first route from there
 * instead of calling the configuration invalid.
 */

/**
 * The catch-all the manager puts last when it creates the ingress list: 404 for every hostname
 * no rule names (cloudflared's own documentation uses the same rule).
 */
export const DEFAULT_CATCH_ALL: IngressRule = Object.freeze({ service: 'http_status:404' });

/**
 * Whether a parsed `config.yml` has no ingress rules yet (no `ingress` key, `ingress:` empty or
 * `[]`) and nothing else wrong with it: a state cloudflared runs, and one a first rule may be
 * added to.
 */
export function hasNoIngressYet(file: Pick<ParsedConfigFile, 'rules' | 'errors'>): boolean {
  return file.rules.length === 0 && file.errors.length > 0 && file.errors.every((e) => e.code === 'no-rules');
}

/**
 * The rules a managed rule is placed into: `rules` itself, or — when there are none yet — a
 * list holding only {@link DEFAULT_CATCH_ALL}, so the first rule lands before a catch-all and
 * the last delete leaves the catch-all.
 */
export function withCatchAll(rules: readonly IngressRule[]): readonly IngressRule[] {
  return rules.length === 0 ? [DEFAULT_CATCH_ALL] : rules;
}

/** Which of the three states a cloudflared configuration is in, for `tunnel doctor` and status. */
export type IngressConfigState =
  /** No ingress rules yet: cloudflared answers 503 to everything; the first route creates the list. */
  | 'no-ingress'
  /** Rules cloudflared accepts. */
  | 'valid'
  /** A configuration cloudflared refuses (or that does not parse). */
  | 'invalid';

export function ingressConfigState(file: Pick<ParsedConfigFile, 'rules' | 'errors'>): IngressConfigState {
  if (hasNoIngressYet(file)) return 'no-ingress';
  return file.errors.length === 0 ? 'valid' : 'invalid';
}
