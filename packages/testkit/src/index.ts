/**
 * @tunnel/testkit — what tests, benchmarks and the sandbox run against: in-memory
 * implementations of every port, a manual clock, and (see the other issues) the Cloudflare API
 * emulator and the simulated cloudflared. The conformance suites are in
 * `@tunnel/testkit/conformance` (they import vitest).
 */

// --- Cloudflare API emulator ---
export {
  API_PREFIX,
  CF_CODES,
  type CloudflareEmulator,
  type CloudflareEmulatorOptions,
  CONTROL_PREFIX,
  defaultEmulatorSeed,
  EMULATOR_PERMISSIONS,
  type EmulatorData,
  type EmulatorPermission,
  type EmulatorSeed,
  type FaultSpec,
  type LoggedRequest,
  type RateLimitOptions,
  type RecordState,
  type SeedAccount,
  type SeedConnector,
  type SeedDnsRecord,
  type SeededState,
  type SeedToken,
  type SeedTunnel,
  type SeedZone,
  startCloudflareEmulator,
  type TokenState,
  type TunnelState,
  type TunnelStatus,
  type ZonePlan,
  type ZoneState,
} from './cloudflare-emulator/index.js';
// --- simulated cloudflared ---
export { parseSimCommand, type SimCommand, UsageError as SimUsageError } from './cloudflared-sim/args.js';
export { loadSimConfig, type SimConfig, SimConfigError } from './cloudflared-sim/config.js';
export {
  type CredentialsInput,
  defaultCredentialDirs,
  newTunnelCredentials,
  type ResolvedCredentials,
  resolveSimCredentials,
  type TunnelCredentials,
  writeTunnelCredentials,
} from './cloudflared-sim/credentials.js';
export { formatGoDuration, parseGoDuration } from './cloudflared-sim/duration.js';
export { CLOUDFLARED_ENV } from './cloudflared-sim/environment.js';
export {
  NO_FAULTS,
  parseFaultList,
  SIM_FAULTS_ENV,
  type SimFaults,
  type SimFaultUpdate,
} from './cloudflared-sim/faults.js';
export {
  DEFAULT_AUTOUPDATE_FREQ_MS,
  KNOWN_METRICS_PORTS,
  SIM_VERSION,
  type SimEdgeOptions,
  type SimState,
} from './cloudflared-sim/simulator.js';
export {
  cloudflaredSimCommand,
  cloudflaredSimPath,
  httpJson,
  type SimExit,
  SimProcess,
  type StartSimOptions,
  startCloudflaredSim,
} from './cloudflared-sim/spawn.js';
export { ManualClock } from './manual-clock.js';
export { InMemoryDnsProvider, type SeedRecord } from './memory/in-memory-dns-provider.js';
export { InMemoryIngressStore } from './memory/in-memory-ingress-store.js';
export {
  InMemoryProcessController,
  type InMemoryProcessControllerOptions,
} from './memory/in-memory-process-controller.js';
export { emptyTopologySnapshot, InMemoryTopology } from './memory/in-memory-topology.js';
export { isProcessRunning } from './process-state.js';
export { type Receiver, startReceiver } from './webhook/receiver.js';
