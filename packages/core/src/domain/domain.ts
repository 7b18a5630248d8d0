/** A DNS zone as a DnsProvider reports it. */
export interface Zone {
  readonly id: string;
  /** Canonical (lower-case punycode) zone name, e.g. `example.com`. */
  readonly name: string;
  /** Provider status, e.g. `active`, `pending`. Only `active` zones serve DNS. */
  readonly status: string;
  readonly accountId: string | null;
}

/** A zone as the state store keeps it: what was discovered, and when. */
export interface Domain extends Zone {
  /** Epoch ms of the discovery that last saw this zone. */
  readonly refreshedAt: number;
}
