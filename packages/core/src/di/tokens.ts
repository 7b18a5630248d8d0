import type { InjectionToken } from 'tsyringe';
import type { TunnelConfig } from '../config/schema.js';
import type { Clock } from '../ports/clock.js';
import type { DnsProvider, TunnelStatusSource } from '../ports/dns-provider.js';
import type { IngressStore } from '../ports/ingress-store.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessController } from '../ports/process-controller.js';
import type { StateStore } from '../ports/state-store.js';
import type { Topology } from '../ports/topology.js';

/** A symbol that remembers the type it resolves to. */
export type Token<T> = symbol & { readonly __resolvesTo?: T };

const token = <T>(name: string): Token<T> => Symbol.for(`tunnel-manager.${name}`) as Token<T>;

/** Every DI token, in one place. Services take these through `@inject(TOKENS.X)`. */
export const TOKENS = {
  Config: token<TunnelConfig>('Config'),
  Clock: token<Clock>('Clock'),
  Logger: token<Logger>('Logger'),
  StateStore: token<StateStore>('StateStore'),
  DnsProvider: token<DnsProvider>('DnsProvider'),
  TunnelStatusSource: token<TunnelStatusSource>('TunnelStatusSource'),
  IngressStore: token<IngressStore>('IngressStore'),
  ProcessController: token<ProcessController>('ProcessController'),
  Topology: token<Topology>('Topology'),
} as const;

export type TokenName = keyof typeof TOKENS;
export type TokenType<K extends TokenName> = (typeof TOKENS)[K] extends Token<infer T> ? T : never;

/** tsyringe's InjectionToken, typed. */
export const asInjectionToken = <T>(t: Token<T>): InjectionToken<T> => t as InjectionToken<T>;
