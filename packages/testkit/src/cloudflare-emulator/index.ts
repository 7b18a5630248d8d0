/** The Cloudflare API emulator: what every test, benchmark and the sandbox talk to. */
export { ApiFailure, CF_CODES, type SeededState } from './api.js';
export {
  type AccountState,
  type ConnectorState,
  EMULATOR_PERMISSIONS,
  type EmulatorData,
  type EmulatorPermission,
  type EmulatorSeed,
  type RecordState,
  type SeedAccount,
  type SeedConnector,
  type SeedDnsRecord,
  type SeedToken,
  type SeedTunnel,
  type SeedZone,
  type TokenState,
  type TunnelState,
  type TunnelStatus,
  type ZonePlan,
  type ZoneState,
} from './model.js';
export {
  API_PREFIX,
  type CloudflareEmulator,
  type CloudflareEmulatorOptions,
  CONTROL_PREFIX,
  defaultEmulatorSeed,
  type FaultSpec,
  type LoggedRequest,
  type RateLimitOptions,
  startCloudflareEmulator,
} from './server.js';
