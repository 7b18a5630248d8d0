/**
 * @tunnel/mcp — the MCP server for project agents: five tools over stdio (one project per
 * process) or Streamable HTTP (a bearer token per project). Glue only: every tool calls the
 * TunnelManager. Named exports only: this list is the public API.
 */

export {
  createMcpHttpHandler,
  type McpHttpHandler,
  type McpHttpHandlerOptions,
  type McpHttpServerOptions,
  type RunningMcpHttpServer,
  startMcpHttpServer,
} from './http.js';
export { resolveStdioActor, type StdioIdentityInput } from './identity.js';
export { RateLimiter } from './rate-limit.js';
export { toolErrorSchema } from './schemas.js';
export { createTunnelMcpServer, SERVER_INFO, type TunnelMcpServerOptions } from './server.js';
export { type RunningStdioServer, runStdioServer, type StdioServerOptions } from './stdio.js';
export { TOOL_NAMES, type ToolName } from './tools.js';
