/**
 * @tunnel/cli — the `tunnel` command, the daemon and the sandbox. Glue only: everything it does
 * is core's, through the providers it composes. Named exports only. (The `tunnel` executable is
 * `bundle/tunnel.js`, bundled from `dist/bin/tunnel.js`; it imports `main.js` alone and loads the
 * rest lazily, so starting it loads no provider SDK.)
 */

// --- doctor ---
export { type DoctorCheck, runDoctorChecks } from './commands/doctor.js';
// --- configuration reference (tunnel init, docs/configuration.md) ---
export {
  type ConfigKeyReference,
  type ConfigSectionReference,
  configReference,
  renderConfigReference,
  renderConfigTemplate,
} from './config-reference.js';
// --- the command line ---
export { type CommandContext, type GlobalOptions, UsageError } from './context.js';
export { DaemonAlerts, type DaemonAlertsOptions } from './daemon/alerts.js';
// --- the daemon ---
export { Daemon, type DaemonHealthz, type DaemonOptions } from './daemon/daemon.js';
export {
  type DaemonHttpServer,
  type DaemonHttpServerOptions,
  type RouteHandler,
  startDaemonHttpServer,
} from './daemon/http-server.js';
export { meteredPlugin, type ProviderCallObserver } from './daemon/metered-plugin.js';
export { AuditTail, DaemonMetrics, type MetricsStateSource } from './daemon/metrics.js';
export { PeriodicJob } from './daemon/periodic.js';
export {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeForFamily,
  exitCodeTable,
  FAMILY_EXIT_CODES,
  renderExitCodes,
  renderExitCodesMarkdown,
} from './exit-codes.js';
// --- logging and providers ---
export { createPinoLogger, PinoLogger, type PinoLoggerOptions } from './logging.js';
export { reportError, runCli } from './main.js';
export { type CliIo, type Column, Output, processIo } from './output.js';
export { loadProviderPlugins } from './plugins.js';
export { buildProgram, parsePortOption, parseSinceOption } from './program.js';
// --- the sandbox ---
export {
  renderSandboxConfig,
  SANDBOX_ACCOUNT_ID,
  SANDBOX_TUNNEL_ID,
  SANDBOX_ZONES,
  type Sandbox,
  type SandboxInfo,
  type SandboxStartOptions,
  sandboxDataDir,
  sandboxPaths,
  startSandbox,
} from './sandbox/sandbox.js';
