import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import {
  Actor,
  type CnameRoute,
  type DomainView,
  ROUTE_STATES,
  SERVICE_SCHEMES,
  type StatusReport,
  type TunnelManagerApi,
} from '@tunnel/core';
import { z } from 'zod';
import {
  deleteCnameOutput,
  listCnamesOutput,
  listDomainsOutput,
  originSettingsSchema,
  outputEnvelope,
  requestCnameOutput,
  type routeSchema,
  statusOutput,
} from './schemas.js';

/** What every tool runs with: the façade and the caller it was authenticated as. */
export interface ToolContext {
  readonly manager: TunnelManagerApi;
  readonly actor: Actor;
  /** `policy.defaultDomain`, shown in descriptions and in `tunnel_list_domains`. */
  readonly defaultDomain: string | null;
}

/** What a tool hands back: the structured result (checked against `output`) and a short summary. */
export interface ToolOutcome {
  readonly structured: Record<string, unknown>;
  readonly text: string;
}

/** One MCP tool: schemas, agent-facing description, and a call into the TunnelManager. */
export interface ToolDefinition {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly input: z.ZodObject;
  /** The success shape; the registered output schema also admits `{error}` (see outputEnvelope). */
  readonly output: z.ZodObject;
  readonly annotations: ToolAnnotations;
  /** Valid arguments, quoted in the hint of an INVALID_INPUT error. */
  readonly example: string;
  run(context: ToolContext, input: Record<string, unknown>): Promise<ToolOutcome>;
}

/** The tool names, in the order `tools/list` returns them. */
export const TOOL_NAMES = [
  'tunnel_get_status',
  'tunnel_request_cname',
  'tunnel_delete_cname',
  'tunnel_list_cnames',
  'tunnel_list_domains',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function routeView(route: CnameRoute): z.input<typeof routeSchema> {
  return {
    hostname: route.hostname,
    path: route.path,
    originRequest: route.originRequest,
    publicUrl: `https://${route.hostname}`,
    owner: route.owner,
    zone: route.zoneName,
    service: { container: route.service.container, port: route.service.port, scheme: route.service.scheme },
    target: route.target,
    targetReason: route.targetReason,
    state: route.state,
    lastError: route.lastError ? { code: route.lastError.code, message: route.lastError.message } : null,
    createdAt: iso(route.createdAt),
    updatedAt: iso(route.updatedAt),
  };
}

/** At most this many lines of a list go into the text summary; the structured result has all. */
const TEXT_LIST_LIMIT = 20;

function listLines<T>(items: readonly T[], line: (item: T) => string): string {
  const shown = items.slice(0, TEXT_LIST_LIMIT).map((item) => `- ${line(item)}`);
  if (items.length > TEXT_LIST_LIMIT)
    shown.push(`- …and ${items.length - TEXT_LIST_LIMIT} more (see structuredContent)`);
  return shown.join('\n');
}

const hostnameField = z
  .string()
  .min(1)
  .max(1024)
  .describe('A full hostname, e.g. "shop.example.com". Give this or `subdomain`, not both.');

function statusTool(): ToolDefinition {
  return {
    name: 'tunnel_get_status',
    title: 'Tunnel status',
    description: [
      "Reports the health of this VM's Cloudflare Tunnel right now: whether cloudflared is healthy, degraded or down, how many edge connections are ready, when it was last checked, the last restart and why, whether a restart is pending, how many routes are in each state, and the recent health checks.",
      'Use it before publishing a hostname, or when a hostname you published does not answer, to tell a tunnel problem from a problem in your service. It changes nothing and takes no arguments.',
      'Example: call with {} → {"tunnel": {"status": "healthy", "readyConnections": 4, …}, "restartPending": false, …}.',
    ].join('\n\n'),
    input: z.strictObject({}),
    output: statusOutput,
    example: 'It takes no arguments: call it with {}.',
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run(context) {
      const report: StatusReport = await context.manager.getStatus(context.actor);
      const t = report.tunnel;
      const structured = {
        instance: report.instance,
        tunnel: {
          status: t.status,
          processState: t.processState,
          readyConnections: t.readyConnections,
          apiStatus: t.apiStatus,
          lastCheckAt: isoOrNull(t.lastCheckAt),
          detail: t.detail,
        },
        lastRestart: report.lastRestart
          ? {
              at: iso(report.lastRestart.at),
              reason: report.lastRestart.reason,
              outcome: report.lastRestart.outcome,
              durationMs: report.lastRestart.durationMs,
            }
          : null,
        restartPending: report.restartPending,
        routes: { ...report.routes },
        domains: report.domains.map((d) => ({ name: d.name, status: d.status })),
        recentSamples: report.recentSamples.map((s) => ({
          at: iso(s.at),
          status: s.status,
          processState: s.processState,
          readyConnections: s.readyConnections,
          latencyMs: s.latencyMs,
          apiStatus: s.apiStatus,
          failingCheck: s.failingCheck,
          detail: s.detail,
        })),
      };
      const counts = Object.entries(report.routes)
        .filter(([, n]) => n > 0)
        .map(([state, n]) => `${n} ${state}`);
      const lines = [
        t.status === 'unknown'
          ? 'Tunnel status unknown: no health check has run yet (is the tunnel daemon running?).'
          : `Tunnel ${t.status}: cloudflared ${t.processState}, ${t.readyConnections ?? 'unknown'} ready connection(s), last checked ${isoOrNull(t.lastCheckAt) ?? 'never'}.${t.detail ? ` ${t.detail}` : ''}`,
        `Routes: ${counts.length > 0 ? counts.join(', ') : 'none'}.${report.restartPending ? ' A cloudflared restart is pending.' : ''}`,
        report.lastRestart
          ? `Last restart ${iso(report.lastRestart.at)} (${report.lastRestart.reason}): ${report.lastRestart.outcome}.`
          : 'No restart recorded.',
      ];
      return { structured, text: lines.join('\n') };
    },
  };
}

function requestCnameTool(context: { actor: Actor; defaultDomain: string | null }): ToolDefinition {
  const admin = context.actor.kind === 'admin';
  const domainDefault = context.defaultDomain
    ? `Defaults to "${context.defaultDomain}".`
    : 'There is no default here: give it, or use `hostname`.';
  const shape = {
    subdomain: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe('The name below `domain`, e.g. "shop" for shop.<domain>. Give this or `hostname`, not both.'),
    hostname: hostnameField.optional(),
    domain: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe(`The zone for \`subdomain\` (see tunnel_list_domains). ${domainDefault}`),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .describe('The port your service listens on — inside its container when `container` is given.'),
    container: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('The Docker container running the service. Omit it for a service listening on the host.'),
    scheme: z
      .enum(SERVICE_SCHEMES)
      .optional()
      .describe('The protocol your service speaks. Default "http"; "https" for a TLS origin.'),
    path: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe(
        'Only requests whose path matches this RE2 regex (matched unanchored, like cloudflared: "^/api/" = everything under /api/). Several paths on one hostname are separate routes of the same owner; the most specific wins (path routes before the path-less one, longer literal prefix first). Omit it for the hostname\'s path-less route.',
      ),
    fromPath: z
      .string()
      .max(2048)
      .optional()
      .describe(
        'Re-target: move your route at this path ("" for the path-less one) to `path`, in place (one rule change, no DNS change). Omit it to add or update the route at `path`.',
      ),
    originRequest: originSettingsSchema
      .optional()
      .describe(
        'Origin settings for this route\'s rule, from an allow-list: noTLSVerify, originServerName, matchSNItoHost, caPool (operator-allowed directories only), httpHostHeader, http2Origin, disableChunkedEncoding, noHappyEyeballs, connectTimeout/tlsTimeout/tcpKeepAlive/keepAliveTimeout (whole seconds, "10s"), keepAliveConnections. Replaces the route\'s settings as a whole; omit to keep none.',
      ),
    dryRun: z.boolean().optional().describe('true: return the plan (target, steps) and change nothing. Default false.'),
  };
  const adminShape = {
    project: z
      .string()
      .min(1)
      .max(63)
      .optional()
      .describe('Admin only: create the route for this project (it becomes the owner). Default: the admin owner.'),
    adopt: z
      .boolean()
      .optional()
      .describe('Admin only: take over a name held by a DNS record the manager did not create. Default false.'),
    fromInstance: z
      .string()
      .min(1)
      .max(20)
      .optional()
      .describe(
        'Admin only, with adopt: also take the name when this other Tunnel Manager instance (another VM on the zone) publishes it — moves the name here on purpose.',
      ),
  };
  return {
    name: 'tunnel_request_cname',
    title: 'Publish a hostname',
    description: [
      admin
        ? "Publishes a service on a public hostname through this VM's Cloudflare Tunnel, for any project (you are admin): a proxied CNAME to the tunnel plus the cloudflared ingress rule that forwards the hostname to the service."
        : "Publishes one of your project's services on a public hostname through this VM's Cloudflare Tunnel: a proxied CNAME to the tunnel plus the cloudflared ingress rule that forwards the hostname to your service. The route belongs to your project; no other project can change it.",
      'The manager decides how cloudflared reaches the service — `http://<container>:<port>` when cloudflared and the container share a Docker network, `http://localhost:<port>` when both reach the host — and says why in `targetReason`. If cloudflared cannot reach it at all, the call fails with TARGET_UNREACHABLE and a hint.',
      'Calling it again with the same arguments changes nothing (outcome "unchanged"); with another port, container or scheme it updates your route. Use `dryRun: true` first when unsure. A name another project holds fails with HOSTNAME_TAKEN; a name with a DNS record the manager did not create fails with RECORD_CONFLICT. When `restartPending` is true the rule is written and cloudflared will pick it up at its next restart (the daemon does it).',
      'Paths: a hostname can send different paths to different services — call it once per path with `path` (an RE2 regex). All paths of a hostname share one DNS record and one owner: another project cannot add a path to your name (HOSTNAME_TAKEN). The most specific path wins: path routes before the path-less one, then the longest literal prefix ("^/api/v2/" before "^/api/"). Delete one path with tunnel_delete_cname and `path`; the DNS record goes with the last one.',
      'Origin settings: `originRequest` sets allow-listed cloudflared origin options on your rule — e.g. {"noTLSVerify": true} for a self-signed HTTPS origin, {"originServerName": "app.internal"} to check its certificate under another name, {"httpHostHeader": "app.internal"}, {"connectTimeout": "10s"}. Values are checked as cloudflared would (booleans are true/false, durations whole seconds); anything else fails with INVALID_INPUT and changes nothing.',
      admin
        ? 'Wildcards: `hostname: "*.team.example.com"` publishes a DNS wildcard and a rule placed after the exact names it covers (those keep their own rules).'
        : 'Wildcards (`*.team.<zone>`) are allowed only in zones the operator lists in policy.wildcardZones (else POLICY_DENIED); the names below your wildcard are then yours.',
      'Re-targeting: the same hostname and path with another port, container, scheme or originRequest updates your route in place (outcome "updated": one rule change, one restart, no DNS change); with `fromPath` it moves your route to another path.',
      'Fields: `subdomain` + optional `domain`, or a full `hostname`; `port` (required); optional `container`, `scheme`, `path`, `fromPath`, `originRequest`, `dryRun`.',
      `Example: {"subdomain": "shop", "port": 8080, "container": "shop-web"} → {"hostname": "shop.${context.defaultDomain ?? 'example.com'}", "path": null, "target": "http://shop-web:8080", "targetReason": "…share the Docker network …", "state": "active", …}.`,
      `Example: {"subdomain": "shop", "path": "^/api/", "port": 9000, "container": "shop-api"} → {"hostname": "shop.${context.defaultDomain ?? 'example.com'}", "path": "^/api/", "target": "http://shop-api:9000", "outcome": "created", "steps": [… "share the CNAME of shop.… ; no DNS change" …], …}.`,
      'Example: {"hostname": "admin.example.com", "port": 8443, "scheme": "https", "originRequest": {"noTLSVerify": true, "connectTimeout": "1m"}} → {"originRequest": {"noTLSVerify": true, "connectTimeout": "60s"}, "target": "https://localhost:8443", …}.',
    ].join('\n\n'),
    input: z.strictObject(admin ? { ...shape, ...adminShape } : shape),
    output: requestCnameOutput,
    example: 'Example: {"subdomain": "shop", "port": 8080, "container": "shop-web"}.',
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run(ctx, input) {
      const args = input as z.output<z.ZodObject<typeof shape>> & {
        readonly project?: string;
        readonly adopt?: boolean;
        readonly fromInstance?: string;
      };
      const fromPath = args.fromPath === undefined ? undefined : args.fromPath === '' ? null : args.fromPath;
      const result = await ctx.manager.requestCname(ctx.actor, {
        ...(args.hostname !== undefined ? { hostname: args.hostname } : {}),
        ...(args.subdomain !== undefined ? { subdomain: args.subdomain } : {}),
        ...(args.domain !== undefined ? { domain: args.domain } : {}),
        service: {
          port: args.port,
          container: args.container ?? null,
          ...(args.scheme !== undefined ? { scheme: args.scheme } : {}),
        },
        ...(args.path !== undefined ? { path: args.path } : {}),
        ...(fromPath !== undefined ? { fromPath } : {}),
        ...(args.originRequest !== undefined ? { originRequest: args.originRequest } : {}),
        ...(args.dryRun !== undefined ? { dryRun: args.dryRun } : {}),
        ...(args.project !== undefined ? { project: args.project } : {}),
        ...(args.adopt !== undefined ? { adopt: args.adopt } : {}),
        ...(args.fromInstance !== undefined ? { fromInstance: args.fromInstance } : {}),
      });
      const route = result.route;
      const structured = {
        hostname: route.hostname,
        path: route.path,
        originRequest: route.originRequest,
        publicUrl: result.publicUrl,
        outcome: result.outcome,
        state: route.state,
        target: result.target,
        targetReason: result.targetReason,
        service: { container: route.service.container, port: route.service.port, scheme: route.service.scheme },
        owner: route.owner,
        zone: route.zoneName,
        restartPending: result.restartPending,
        dryRun: result.outcome === 'planned',
        steps: result.steps.map((s) => ({ step: s.step, summary: s.summary })),
        durationMs: result.durationMs,
      };
      const head =
        result.outcome === 'planned'
          ? `Dry run: ${route.hostname}${route.path ? ` path ${route.path}` : ''} would be served by ${result.target}. Nothing changed.`
          : `${result.outcome === 'unchanged' ? 'Unchanged' : result.outcome === 'updated' ? 'Updated' : 'Created'}: ${result.publicUrl}${route.path ? ` (path ${route.path})` : ''} → ${result.target} (state ${route.state}${result.restartPending ? ', cloudflared restart pending' : ''}).`;
      return { structured, text: `${head}\nWhy this target: ${result.targetReason}` };
    },
  };
}

function deleteCnameTool(actor: Actor): ToolDefinition {
  const admin = actor.kind === 'admin';
  return {
    name: 'tunnel_delete_cname',
    title: 'Unpublish a hostname',
    description: [
      admin
        ? "Removes a published hostname (any project's — you are admin): deletes its DNS record and its cloudflared ingress rule."
        : "Removes one of your project's published hostnames: deletes its DNS record and its cloudflared ingress rule. You can only delete hostnames your project owns (others fail with NOT_OWNER); tunnel_list_cnames shows yours.",
      'Use it when a service is retired or moved to another name. Records and rules the manager did not create are never touched. A hostname that is not published fails with NOT_FOUND.',
      'Paths: without `path` it deletes the hostname\'s path-less route; with `path` ("^/api/") only that path\'s rule goes. The DNS record stays while another path of the hostname is published, and goes with the last one (`dnsRecordDeleted`).',
      'Example: {"hostname": "shop.example.com"} → {"hostname": "shop.example.com", "path": null, "state": "deleted", "dnsRecordDeleted": true, "restartPending": false, …}.',
      'Example: {"hostname": "shop.example.com", "path": "^/api/"} → {"path": "^/api/", "state": "deleted", "dnsRecordDeleted": false, …}.',
    ].join('\n\n'),
    input: z.strictObject({
      hostname: z.string().min(1).max(1024).describe('The full hostname to remove, e.g. "shop.example.com".'),
      path: z
        .string()
        .max(2048)
        .optional()
        .describe(
          'The path of the route to remove, exactly as published (e.g. "^/api/"). Omit for the path-less route.',
        ),
      ...(admin
        ? {
            restoreReplaced: z
              .boolean()
              .optional()
              .describe(
                'Admin only: put back the DNS records an adopt replaced when this route was created. Default false.',
              ),
          }
        : {}),
    }),
    output: deleteCnameOutput,
    example: 'Example: {"hostname": "shop.example.com"}.',
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    async run(ctx, input) {
      const restoreReplaced = (input as { restoreReplaced?: boolean }).restoreReplaced === true;
      const path = input.path === undefined || input.path === '' ? undefined : (input.path as string);
      const result = await ctx.manager.deleteCname(ctx.actor, input.hostname as string, {
        ...(path === undefined ? {} : { path }),
        ...(restoreReplaced ? { restoreReplaced } : {}),
      });
      return {
        structured: {
          hostname: result.hostname,
          path: result.path,
          dnsRecordDeleted: result.dnsRecordDeleted,
          state: result.route.state,
          owner: result.route.owner,
          restartPending: result.restartPending,
          ...(result.restored ? { restored: [...result.restored] } : {}),
          durationMs: result.durationMs,
        },
        text: `Deleted ${result.hostname}${result.path ? ` path ${result.path}` : ''}${result.dnsRecordDeleted ? '' : ' (its DNS record stays for the other paths)'} (state ${result.route.state}${result.restartPending ? ', cloudflared restart pending' : ''}).${
          result.restored?.length ? ` Restored: ${result.restored.join(', ')}.` : ''
        }`,
      };
    },
  };
}

function listCnamesTool(actor: Actor): ToolDefinition {
  const admin = actor.kind === 'admin';
  const shape = {
    states: z
      .array(z.enum(ROUTE_STATES))
      .min(1)
      .max(ROUTE_STATES.length)
      .optional()
      .describe('Only routes in these states. Default: every state but "deleted".'),
    zone: z.string().min(1).max(253).optional().describe('Only routes in this zone, e.g. "example.com".'),
  };
  const adminShape = {
    project: z.string().min(1).max(63).optional().describe("Admin only: only this project's routes. Default: all."),
  };
  return {
    name: 'tunnel_list_cnames',
    title: 'List published hostnames',
    description: [
      admin
        ? "Lists the hostnames published through this tunnel — every project's, or one project's with `project` — with their owner, target and state."
        : "Lists the hostnames your project has published through this tunnel, with the target each forwards to, why that target, and the state (`active` means served). Other projects' routes are never shown.",
      'Use it to check what is already published before requesting a name, or to see whether a request finished (`state`) and why one failed (`lastError`).',
      `Example: {} or {"states": ["active"]} → {"routes": [{"hostname": "shop.example.com", "target": "http://shop-web:8080", "state": "active", …}], "count": 1}.`,
    ].join('\n\n'),
    input: z.strictObject(admin ? { ...shape, ...adminShape } : shape),
    output: listCnamesOutput,
    example: 'Example: {"states": ["active"]}, or {} for all.',
    annotations: { readOnlyHint: true, openWorldHint: false },
    async run(ctx, input) {
      const args = input as { states?: (typeof ROUTE_STATES)[number][]; zone?: string; project?: string };
      const routes = await ctx.manager.listCnames(ctx.actor, {
        ...(args.states !== undefined ? { states: args.states } : {}),
        ...(args.zone !== undefined ? { zone: args.zone } : {}),
        ...(args.project !== undefined ? { project: args.project } : {}),
      });
      const views = routes.map(routeView);
      const text =
        views.length === 0
          ? 'No routes.'
          : `${views.length} route(s):\n${listLines(views, (r) => `${r.hostname}${r.path ? ` ${r.path}` : ''} → ${r.target} (${r.state}${admin ? `, owner ${r.owner}` : ''})`)}`;
      return { structured: { routes: views, count: views.length }, text };
    },
  };
}

function listDomainsTool(): ToolDefinition {
  return {
    name: 'tunnel_list_domains',
    title: 'List domains',
    description: [
      'Lists the DNS zones (domains) this tunnel can publish hostnames in, whether you may use each one (`usable`, with `reason` when not), and which one is the default for `subdomain` requests.',
      'Use it to pick the `domain` for tunnel_request_cname. `refresh: true` re-reads the zones from Cloudflare first (slower; only when a zone you expect is missing).',
      'Example: {} → {"domains": [{"name": "example.com", "status": "active", "usable": true, "isDefault": true, …}], "defaultDomain": "example.com"}.',
    ].join('\n\n'),
    input: z.strictObject({
      refresh: z.boolean().optional().describe('Re-read the zones from Cloudflare first. Default false.'),
    }),
    output: listDomainsOutput,
    example: 'Example: {} or {"refresh": true}.',
    annotations: { readOnlyHint: true, openWorldHint: true },
    async run(ctx, input) {
      const domains: DomainView[] = await ctx.manager.listDomains(
        ctx.actor,
        input.refresh === undefined ? undefined : { refresh: input.refresh as boolean },
      );
      const views = domains.map((d) => ({
        name: d.name,
        status: d.status,
        usable: d.usable,
        reason: d.reason,
        isDefault: d.name === ctx.defaultDomain,
        refreshedAt: iso(d.refreshedAt),
      }));
      const text =
        views.length === 0
          ? 'No domains: the Cloudflare token sees no zone (ask the operator).'
          : `${views.length} domain(s):\n${listLines(views, (d) => `${d.name}${d.isDefault ? ' (default)' : ''}: ${d.usable ? 'usable' : `not usable — ${d.reason ?? d.status}`}`)}`;
      return { structured: { domains: views, defaultDomain: ctx.defaultDomain }, text };
    },
  };
}

/** A tool with its registered output schema (the success shape or `{error}`). */
export interface RegisteredToolDefinition extends ToolDefinition {
  readonly registeredOutput: z.ZodObject;
}

/**
 * Built once per (admin or project, default domain) and shared by every server: the HTTP
 * front-end builds a server per request, and zod compiles a schema's parser on its first use,
 * so new schema objects per request would pay that compile on every call.
 */
const toolSets = new Map<string, readonly RegisteredToolDefinition[]>();

/**
 * The five tools, with the inputs and wording for this kind of caller (admins get
 * `project`/`adopt`). Nothing in a definition names the project: it comes from the context each
 * call runs with.
 */
export function defineTools(context: {
  readonly actor: Actor;
  readonly defaultDomain: string | null;
}): readonly RegisteredToolDefinition[] {
  const admin = context.actor.kind === 'admin';
  const key = `${admin ? 'admin' : 'project'}\u0000${context.defaultDomain ?? ''}`;
  let tools = toolSets.get(key);
  if (!tools) {
    const kind = admin ? Actor.admin() : Actor.project('any');
    tools = [
      statusTool(),
      requestCnameTool({ actor: kind, defaultDomain: context.defaultDomain }),
      deleteCnameTool(kind),
      listCnamesTool(kind),
      listDomainsTool(),
    ].map((tool) => ({ ...tool, registeredOutput: outputEnvelope(tool.output) }));
    toolSets.set(key, tools);
  }
  return tools;
}
