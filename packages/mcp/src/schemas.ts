import { ERROR_CODES, type ErrorCode, ROUTE_STATES, SERVICE_SCHEMES } from '@tunnel/core';
import { z } from 'zod';

/*
 * The zod schemas the tools are registered with. Input schemas check shape and simple bounds
 * (so a client sees them in `tools/list`); every rule beyond that — hostname syntax, policy,
 * ownership, reachability — is the TunnelManager's, and comes back as a coded tool error.
 */

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** The TunnelError as a tool error carries it in `structuredContent.error`. */
export const toolErrorSchema = z
  .object({
    code: z.enum(errorCodes).describe('Stable error code, e.g. HOSTNAME_TAKEN. Branch on this, not on the message.'),
    message: z.string().describe('What happened.'),
    hint: z.string().describe('What to do next.'),
    retryable: z.boolean().describe('Whether the same call may succeed later without changes.'),
    details: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Structured facts, e.g. `retryAfterMs` for RATE_LIMITED, `issues` for INVALID_INPUT.'),
  })
  .describe('Present only on a failed call (isError: true); then no other field is.');

type Shape = z.ZodRawShape;

/**
 * The output schema a tool is registered with: its success fields, or `{error}` alone.
 *
 * The MCP SDK's client validates `structuredContent` against the output schema even on an error
 * result, so the error shape must be part of it. JSON Schema says "one of the two" with a
 * top-level `oneOf` of required sets (zod's `meta` is merged into the generated schema); zod
 * itself sees every field optional, and the server checks the success shape separately.
 */
export function outputEnvelope<S extends Shape>(success: z.ZodObject<S>): z.ZodObject {
  const required = Object.entries(success.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([key]) => key);
  const optional = Object.fromEntries(
    Object.entries(success.shape).map(([key, field]) => [key, (field as z.ZodType).optional()]),
  );
  return z
    .object({ ...optional, error: toolErrorSchema.optional() })
    .meta({ oneOf: [{ required }, { required: ['error'] }] });
}

/** Epoch ms rendered for agents. */
export const isoTime = z.string().describe('ISO 8601 UTC time, e.g. 2026-01-01T12:00:00.000Z.');
const nullableIso = isoTime.nullable();

export const routeStateSchema = z
  .enum(ROUTE_STATES)
  .describe(
    'Lifecycle state: `active` means served. reserved → ingress_written → dns_created → active while creating; deleting → dns_deleted → ingress_removed → deleted while deleting; `failed` means rolled back (see lastError).',
  );

export const serviceSchema = z.object({
  container: z.string().nullable().describe('The container serving it, or null for a service on the host.'),
  port: z.number().int().describe('The port the service listens on.'),
  scheme: z.enum(SERVICE_SCHEMES).describe('The protocol cloudflared speaks to the service.'),
});

/** The origin settings a route may carry (the allow-list), as stored and returned. */
export const originSettingsSchema = z
  .object({
    noTLSVerify: z.boolean().optional().describe('Do not verify the origin TLS certificate (self-signed origin).'),
    originServerName: z.string().optional().describe('Name the origin certificate is checked against (SNI).'),
    matchSNItoHost: z
      .boolean()
      .optional()
      .describe('Send the request Host as SNI and check the certificate against it.'),
    caPool: z
      .string()
      .optional()
      .describe('Absolute path of a PEM CA file in a directory the operator allows (policy.caPoolDirs).'),
    httpHostHeader: z.string().optional().describe('Host header sent to the origin, e.g. "app.internal".'),
    http2Origin: z.boolean().optional().describe('Speak HTTP/2 to the origin.'),
    disableChunkedEncoding: z.boolean().optional().describe('Disable chunked transfer encoding to the origin.'),
    noHappyEyeballs: z.boolean().optional().describe('Disable IPv4/IPv6 fallback when dialling the origin.'),
    connectTimeout: z.string().optional().describe('TCP connect timeout, whole seconds, e.g. "10s" or "1m".'),
    tlsTimeout: z.string().optional().describe('TLS handshake timeout, e.g. "10s".'),
    tcpKeepAlive: z.string().optional().describe('TCP keep-alive period, e.g. "30s".'),
    keepAliveTimeout: z.string().optional().describe('Idle keep-alive connection timeout, e.g. "90s".'),
    keepAliveConnections: z.number().int().optional().describe('Most idle keep-alive connections (0–10000).'),
  })
  .strict();

export const routeSchema = z.object({
  hostname: z
    .string()
    .describe('The public hostname, lower-case (IDNs in punycode); `*.team.example.com` for a wildcard.'),
  path: z
    .string()
    .nullable()
    .describe('The RE2 path regex of this route, e.g. "^/api/"; null for the hostname\'s path-less route.'),
  originRequest: originSettingsSchema.nullable().describe('The origin settings of its rule; null for none.'),
  publicUrl: z.string().describe('https://<hostname>'),
  owner: z.string().describe('The project that owns the route (`@admin` for routes an admin created for no project).'),
  zone: z.string().describe('The DNS zone the hostname is in.'),
  service: serviceSchema,
  target: z.string().describe('The ingress service URL cloudflared forwards to, e.g. http://shop-web:8080.'),
  targetReason: z.string().describe('Why the manager chose that target.'),
  state: routeStateSchema,
  lastError: z
    .object({ code: z.enum(errorCodes), message: z.string() })
    .nullable()
    .describe('Why the last operation on this route failed, if it did.'),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const plannedStepSchema = z.object({
  step: z
    .enum(['reserve', 'write_ingress', 'create_dns', 'replace_dns', 'update_ingress', 'restart', 'activate', 'none'])
    .describe('What the manager does (or, for a dry run, would do).'),
  summary: z.string().describe('One line, e.g. "add ingress rule app.example.com → http://web:8080".'),
});

export const requestCnameOutput = z.object({
  hostname: z.string().describe('The hostname, canonical (lower-case, punycode).'),
  path: z.string().nullable().describe("The route's path regex; null for the path-less route."),
  originRequest: originSettingsSchema
    .nullable()
    .describe('The origin settings written to its rule (durations canonical: "1m" → "60s"); null for none.'),
  publicUrl: z
    .string()
    .describe('Where the service is reachable once `state` is active, e.g. https://shop.example.com.'),
  outcome: z
    .enum(['created', 'updated', 'unchanged', 'planned'])
    .describe(
      'created: new route (a new hostname, or a new path of your hostname sharing its DNS record); updated: your route got a new target, path or origin settings in place (one rule change, no DNS change); unchanged: it already was exactly this (nothing written, no restart); planned: dry run, nothing changed.',
    ),
  state: routeStateSchema,
  target: z.string().describe('The ingress service URL chosen, e.g. http://shop-web:8080 or http://localhost:8080.'),
  targetReason: z.string().describe('Why that target: e.g. cloudflared and the container share a Docker network.'),
  service: serviceSchema,
  owner: z.string().describe('The project the route belongs to.'),
  zone: z.string().describe('The DNS zone the hostname is in.'),
  restartPending: z
    .boolean()
    .describe('True when the rule is written but cloudflared has not restarted yet; the daemon will, then it serves.'),
  dryRun: z.boolean().describe('True when nothing was changed.'),
  steps: z.array(plannedStepSchema).describe('The steps taken, or planned for a dry run.'),
  durationMs: z.number().describe('How long the call took in the manager.'),
});

export const deleteCnameOutput = z.object({
  hostname: z.string(),
  path: z.string().nullable().describe("The deleted route's path; null for the path-less route."),
  dnsRecordDeleted: z
    .boolean()
    .describe(
      "True when the DNS record went too (it was the hostname's last route); false when other paths still use it.",
    ),
  state: routeStateSchema,
  owner: z.string().describe('The project that owned the route.'),
  restartPending: z
    .boolean()
    .describe('True when the rule is removed from the config but cloudflared has not restarted yet.'),
  restored: z
    .array(z.string())
    .optional()
    .describe('With restoreReplaced: the records put back, as "TYPE name content".'),
  durationMs: z.number(),
});

export const listCnamesOutput = z.object({
  routes: z.array(routeSchema).describe('Ordered by hostname.'),
  count: z.number().int(),
});

export const domainSchema = z.object({
  name: z.string().describe('The zone name, e.g. example.com.'),
  status: z.string().describe('Cloudflare zone status; only `active` zones serve DNS.'),
  usable: z.boolean().describe('Whether you may create hostnames in it.'),
  reason: z.string().nullable().describe('Why not, when `usable` is false.'),
  isDefault: z.boolean().describe('The zone `tunnel_request_cname` uses when you give `subdomain` without `domain`.'),
  refreshedAt: isoTime.describe('When the zone list was last read from Cloudflare.'),
});

export const listDomainsOutput = z.object({
  domains: z.array(domainSchema),
  defaultDomain: z.string().nullable().describe('The default zone for `subdomain` requests, if one is configured.'),
});

const healthStatus = z.enum(['healthy', 'degraded', 'down']);
const processState = z.enum(['running', 'starting', 'stopped', 'exited', 'unknown']);
const apiStatus = z.enum(['inactive', 'degraded', 'healthy', 'down']);

export const statusOutput = z.object({
  instance: z
    .string()
    .nullable()
    .describe(
      "This Tunnel Manager's instance id (the mark on its records); null when neither instance.id nor a tunnel id is set.",
    ),
  tunnel: z.object({
    status: z
      .enum([...healthStatus.options, 'unknown'])
      .describe('healthy, degraded, down, or unknown when no health check has run yet (no daemon).'),
    processState: z.enum([...processState.options]).describe('The cloudflared process as its controller sees it.'),
    readyConnections: z.number().int().nullable().describe('Edge connections from cloudflared /ready.'),
    apiStatus: apiStatus.nullable().describe('The tunnel status Cloudflare reports.'),
    lastCheckAt: nullableIso,
    detail: z.string().nullable().describe('Why it is not healthy, when it is not.'),
  }),
  lastRestart: z
    .object({
      at: isoTime,
      reason: z.string(),
      outcome: z.enum(['ok', 'error']),
      durationMs: z.number(),
    })
    .nullable(),
  restartPending: z.boolean().describe('A config change waits for a cloudflared restart.'),
  routes: z.record(z.enum(ROUTE_STATES), z.number().int()).describe('How many routes are in each state.'),
  domains: z.array(z.object({ name: z.string(), status: z.string() })),
  recentSamples: z
    .array(
      z.object({
        at: isoTime,
        status: healthStatus,
        processState,
        readyConnections: z.number().int().nullable(),
        latencyMs: z.number().nullable(),
        apiStatus: apiStatus.nullable(),
        failingCheck: z.enum(['process', 'ready', 'api']).nullable(),
        detail: z.string().nullable(),
      }),
    )
    .describe('Health checks, newest first.'),
});
