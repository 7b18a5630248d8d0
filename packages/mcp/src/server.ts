import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Protocol } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { type CallToolResult, ErrorCode as JsonRpcErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { Actor, type Logger, NoopLogger, TunnelError, type TunnelManagerApi, toTunnelError } from '@tunnel/core';
import { z } from 'zod';
import { argumentsShapeError, forbiddenKeyIssues, hostnameLengthError } from './arguments.js';
import type { RateLimiter } from './rate-limit.js';
import { defineTools, type ToolContext, type ToolDefinition } from './tools.js';

/** The server's name and version in the MCP `initialize` handshake. */
export const SERVER_INFO = { name: 'tunnel-manager', version: '0.1.0' } as const;

export interface TunnelMcpServerOptions {
  /** The façade every tool calls; the MCP layer adds no rules of its own. */
  readonly manager: TunnelManagerApi;
  /** Who every call on this server acts as (already authenticated by the transport). */
  readonly actor: Actor;
  /** `policy.defaultDomain`, for tool descriptions and `tunnel_list_domains`. @default null */
  readonly defaultDomain?: string | null;
  /** Checked before every tool call; the HTTP front-end passes its per-token bucket. */
  readonly rateLimit?: { readonly limiter: RateLimiter; readonly key: string };
  /** Where unexpected (INTERNAL) failures are logged with their cause. Never stdout on stdio. @default NoopLogger */
  readonly logger?: Logger;
}

/**
 * `tools/call` as the server accepts it: `arguments` of any JSON type (checked in `call`, where a
 * wrong type becomes INVALID_INPUT with a hint) and `name` of any type (checked by the handler).
 */
const LooseCallToolRequestSchema = z.object({
  method: z.literal('tools/call'),
  params: z.looseObject({ name: z.unknown(), arguments: z.unknown().optional() }),
});

/** Lines of a stack trace, in case one ever ends up inside an error message. */
const STACK_LINE = /^\s+at .+$/;

function errorResult(error: TunnelError): CallToolResult {
  const json = error.toJSON();
  const message = json.message
    .split('\n')
    .filter((line) => !STACK_LINE.test(line))
    .join('\n');
  let details: Record<string, unknown> | undefined;
  if (json.details !== undefined) {
    try {
      details = JSON.parse(JSON.stringify(json.details)) as Record<string, unknown>;
    } catch {
      details = undefined;
    }
  }
  const structured = {
    code: json.code,
    message,
    hint: json.hint,
    retryable: json.retryable,
    ...(details ? { details } : {}),
  };
  return {
    isError: true,
    content: [{ type: 'text', text: `${json.code}: ${message}\nHint: ${json.hint}` }],
    structuredContent: { error: structured },
  };
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): Array<{ path: string; message: string }> {
  return issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(arguments)',
    message: issue.message,
  }));
}

function invalidArguments(tool: ToolDefinition, issues: readonly z.core.$ZodIssue[]): TunnelError {
  const described = describeIssues(issues);
  return new TunnelError(
    'INVALID_INPUT',
    `Invalid arguments for ${tool.name}: ${described.map((i) => `${i.path}: ${i.message}`).join('; ')}.`,
    {
      hint: `Fix the field(s) named above and call again; tools/list gives each field and its allowed values. ${tool.example}`,
      details: { issues: described },
    },
  );
}

/**
 * Builds the MCP server for one caller: the five tools registered with `registerTool` (zod input
 * and output schemas, agent-facing descriptions), each a thin call into the TunnelManager.
 *
 * Every failure is a tool result with `isError: true`: text `CODE: message\nHint: hint` and
 * `structuredContent.error = {code, message, hint, retryable, details?}` — bad arguments
 * (INVALID_INPUT, listing each field), rate limits (RATE_LIMITED with `details.retryAfterMs`) and
 * every TunnelError the manager throws. Stacks go to the logger only.
 *
 * Why the SDK's `tools/call` handler is replaced: it turns a schema mismatch into a bare text
 * error without code, hint or structure. The replacement validates with the same zod schemas the
 * tools are registered (and listed) with, so what `tools/list` promises is what is enforced.
 */
export function createTunnelMcpServer(options: TunnelMcpServerOptions): McpServer {
  const logger = options.logger ?? new NoopLogger();
  const context: ToolContext = {
    manager: options.manager,
    actor: options.actor,
    defaultDomain: options.defaultDomain ?? null,
  };
  const who =
    options.actor.kind === 'admin'
      ? "You act as admin: every project's routes are visible and changeable."
      : `You act for the project "${options.actor.project}": you see and change only its routes.`;
  const server = new McpServer(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions: [
      "Publish this project's services on public hostnames through the VM's Cloudflare Tunnel.",
      who,
      'Start with tunnel_list_domains and tunnel_list_cnames; publish with tunnel_request_cname (dryRun first when unsure); remove with tunnel_delete_cname; check the tunnel with tunnel_get_status.',
      'Failures come back with isError and structuredContent.error = {code, message, hint}: follow the hint.',
    ].join(' '),
  });
  const tools = new Map<string, ToolDefinition>();

  const call = async (tool: ToolDefinition, args: unknown): Promise<CallToolResult> => {
    try {
      if (options.rateLimit) options.rateLimit.limiter.admit(options.rateLimit.key);
      const shapeError = argumentsShapeError(tool, args);
      if (shapeError) return errorResult(shapeError);
      const forbidden = forbiddenKeyIssues(args);
      if (forbidden.length > 0) return errorResult(invalidArguments(tool, forbidden));
      const parsed = tool.input.safeParse(args ?? {});
      if (!parsed.success) {
        return errorResult(
          hostnameLengthError(args, parsed.error.issues) ?? invalidArguments(tool, parsed.error.issues),
        );
      }
      const outcome = await tool.run(context, parsed.data as Record<string, unknown>);
      const checked = tool.output.safeParse(outcome.structured);
      if (!checked.success) {
        throw new TunnelError('INTERNAL', `${tool.name} produced a result that does not match its output schema.`, {
          hint: 'This is a bug in Tunnel Manager; report it with the daemon log.',
          details: { issues: describeIssues(checked.error.issues) },
        });
      }
      return {
        content: [{ type: 'text', text: outcome.text }],
        structuredContent: checked.data as Record<string, unknown>,
      };
    } catch (thrown) {
      const error = toTunnelError(thrown);
      if (error.code === 'INTERNAL') {
        logger.error('tool call failed unexpectedly', {
          tool: tool.name,
          actor: Actor.describe(options.actor),
          error: thrown,
        });
      }
      return errorResult(error);
    }
  };

  for (const tool of defineTools(context)) {
    tools.set(tool.name, tool);
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        outputSchema: tool.registeredOutput,
        annotations: { title: tool.title, ...tool.annotations },
      },
      (args: unknown) => call(tool, args),
    );
  }

  // Registered on the protocol layer, past the SDK Server's own `tools/call` wrapper: that one
  // parses the request with CallToolRequestSchema first, so arguments that are not an object (a
  // string, an array) would come back as -32603 "Internal error" with a raw zod dump instead of
  // reaching `call`, which answers them as INVALID_INPUT with a hint.
  Protocol.prototype.setRequestHandler.call(server.server, LooseCallToolRequestSchema, async (request) => {
    const name = request.params.name;
    const tool = typeof name === 'string' ? tools.get(name) : undefined;
    if (!tool) {
      // A protocol error (JSON-RPC -32602), as the MCP spec has it for unknown tools. Not an
      // McpError: its constructor prefixes the code to the message, which then reads twice.
      throw Object.assign(
        new Error(
          typeof name === 'string'
            ? `Unknown tool ${JSON.stringify(name.slice(0, 80))}; the tools are ${[...tools.keys()].join(', ')}.`
            : `tools/call needs params.name, the tool's name as a string; the tools are ${[...tools.keys()].join(', ')}.`,
        ),
        { code: JsonRpcErrorCode.InvalidParams },
      );
    }
    return call(tool, request.params.arguments);
  });
  return server;
}
