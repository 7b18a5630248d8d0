import {
  type IngressRule,
  type IngressSnapshot,
  type IngressStore,
  type IngressStoreCapabilities,
  TunnelError,
  validateIngressRules,
} from '@tunnel/core';

const DEFAULT_RULES: readonly IngressRule[] = [{ service: 'http_status:404' }];

function freeze(rules: readonly IngressRule[]): readonly IngressRule[] {
  return Object.freeze(rules.map((rule) => Object.freeze(structuredClone(rule))));
}

/**
 * An IngressStore in memory: versioned, validated with core's cloudflared validator, and
 * atomic by construction. Passes the IngressStore conformance suite.
 */
export class InMemoryIngressStore implements IngressStore {
  readonly capabilities: IngressStoreCapabilities;
  #rules: readonly IngressRule[];
  #version = 1;
  /** How many writes landed. */
  writes = 0;

  constructor(rules: readonly IngressRule[] = DEFAULT_RULES, options: { requiresRestart?: boolean } = {}) {
    this.#rules = freeze(rules);
    this.capabilities = { requiresRestart: options.requiresRestart ?? true, backups: false };
  }

  async read(): Promise<IngressSnapshot> {
    return { rules: this.#rules, version: String(this.#version), warnings: [] };
  }

  async write(rules: readonly IngressRule[], expectedVersion: string): Promise<IngressSnapshot> {
    if (expectedVersion !== String(this.#version)) {
      throw new TunnelError(
        'CONCURRENT_CHANGE',
        `The ingress rules changed since version ${expectedVersion} (now ${this.#version}).`,
        {
          hint: 'Read the rules again and re-apply your change.',
        },
      );
    }
    const { errors } = validateIngressRules(rules);
    if (errors.length > 0) {
      throw new TunnelError(
        'INGRESS_INVALID',
        `Refusing to write invalid ingress rules: ${errors.map((e) => e.message).join('; ')}.`,
        {
          hint: 'Fix the rules named above; nothing was written.',
          details: { problems: errors },
        },
      );
    }
    this.#rules = freeze(rules);
    this.#version += 1;
    this.writes += 1;
    return this.read();
  }
}
