/**
 * @tunnel/core — the domain, the ports, the services and the embedded defaults.
 * Named exports only: this list is the public API.
 */
import 'reflect-metadata';

export {
  type AlertEvent,
  AlertService,
  type AlertServiceOptions,
  type AlertTransport,
  formatDuration,
} from './alerts/alert-service.js';
export {
  ALERT_EVENTS,
  type AlertEventKind,
  type AlertsConfig,
  type AlertWebhook,
  resolveWebhooks,
} from './alerts/config.js';
export { alertBody } from './alerts/format.js';
export { WebhookAlertTransport } from './alerts/webhook-transport.js';
// --- auth (API tokens for the MCP HTTP endpoint) ---
export {
  API_TOKEN_PREFIX,
  ApiTokenService,
  type ApiTokenServiceOptions,
  type BearerTokenVerifier,
  type CreateApiTokenInput,
  type CreatedApiToken,
  TOKEN_AUDIT_ACTIONS,
  type VerifiedToken,
} from './auth/api-token-service.js';
// --- configuration ---
export {
  CONFIG_ENV_PREFIX,
  configKeys,
  DEFAULT_CONFIG_PATH,
  type LoadConfigOptions,
  loadConfig,
  mergeConfigInput,
  parseConfig,
} from './config/load.js';
export { configSchema, instanceIdOf, type TunnelConfig, type TunnelConfigInput } from './config/schema.js';
// --- dependency injection ---
export {
  type ContainerOptions,
  createTunnelManagerContainer,
  type ProviderPlugin,
  resolvePort,
} from './di/container.js';
export { asInjectionToken, TOKENS, type Token, type TokenName, type TokenType } from './di/tokens.js';
// --- domain ---
export { Actor, ADMIN_OWNER, PROJECT_NAME_PATTERN, parseProjectName } from './domain/actor.js';
export type { AuditEntry, AuditQuery, NewAuditEntry } from './domain/audit.js';
export type { Domain, Zone } from './domain/domain.js';
export type {
  HealthCheckName,
  HealthSample,
  HealthStatus,
  ProcessState,
  TunnelApiStatus,
} from './domain/health.js';
export { Hostname, type HostnameParseOptions, hostnameFromSubdomain, MAX_HOSTNAME_LENGTH } from './domain/hostname.js';
export type { IngressRule } from './domain/ingress.js';
export {
  deriveInstanceId,
  INSTANCE_ID_PATTERN,
  type InstanceIdentity,
  isInstanceId,
  MAX_INSTANCE_ID_LENGTH,
  parseInstanceId,
} from './domain/instance.js';
export {
  formatOwnerMark,
  formatRuleMark,
  OWNER_MARK_PREFIX,
  type OwnerMark,
  parseOwnerMark,
  toManaged,
} from './domain/owner-mark.js';
export {
  classifyRecord,
  classifyRule,
  describeSibling,
  type Holding,
  isOurs,
  type MarkedRecord,
  siblingInstanceId,
  siblingTakenError,
} from './domain/ownership.js';
export {
  assertTransition,
  type CnameRoute,
  canTransition,
  FINAL_ROUTE_STATES,
  isRouteState,
  RELEASED_ROUTE_STATES,
  ROUTE_STATES,
  ROUTE_TRANSITIONS,
  type RouteError,
  type RouteState,
  SERVICE_SCHEMES,
  type ServiceScheme,
  type ServiceSpec,
} from './domain/route.js';
// --- route options (paths, origin settings) ---
export {
  literalPrefix,
  ORIGIN_SETTING_NAMES,
  type OriginSettingName,
  type OriginSettings,
  originRequestFor,
  pathSpecificity,
  sameOriginSettings,
} from './domain/route-options.js';
export type {
  CloudflaredLocation,
  ContainerInfo,
  ContainerNetwork,
  ContainerPort,
  ContainerState,
  DockerNetwork,
  HostListener,
  PortBinding,
  TopologySnapshot,
} from './domain/topology.js';
// --- errors ---
export {
  ERROR_CODES,
  type ErrorCode,
  type ErrorFamily,
  isTunnelError,
  renderErrorCodeTable,
  TunnelError,
  type TunnelErrorJson,
  type TunnelErrorOptions,
  toTunnelError,
} from './errors.js';
// --- health, restart, process controllers ---
export { type BackoffPolicy, backoffDelay, withJitter } from './health/backoff.js';
export { HealthMonitor, type HealthMonitorOptions } from './health/health-monitor.js';
export {
  CLOUDFLARED_KNOWN_METRICS_PORTS,
  HttpReadinessProbe,
  type ReadinessProbe,
  type ReadyResult,
  type ReadyTarget,
  type ReplicaReadiness,
  TunnelReadiness,
  type TunnelReadinessOptions,
} from './health/readiness.js';
export {
  type AwaitRestartInput,
  RestartCoordinator,
  type RestartCoordinatorMode,
  type RestartCoordinatorOptions,
  type RestartRequestInput,
  type RestartRequestResult,
} from './health/restart-coordinator.js';
export {
  type ConfigRestartRequest,
  RESTART_AUDIT_ACTION,
  type RecoveryRequest,
  RestartManager,
  type RestartManagerOptions,
  type RestartManagerState,
  type RestartOutcome,
  type RestartTrigger,
} from './health/restart-manager.js';
export { createHealthServices, type HealthServices, type HealthServicesOptions } from './health/services.js';
// --- ingress ---
export { type ParsedConfigFile, parseConfigFile } from './ingress/config-file.js';
export {
  DEFAULT_CATCH_ALL,
  hasNoIngressYet,
  type IngressConfigState,
  ingressConfigState,
  withCatchAll,
} from './ingress/first-run.js';
export { parseGoDuration } from './ingress/go-compat.js';
export {
  type IngressListCreated,
  IngressManager,
  type IngressManagerOptions,
  type IngressMutationResult,
  type LockingIngressStore,
  type ManagedRuleRequest,
} from './ingress/ingress-manager.js';
export {
  ABSENT_VERSION,
  LocalFileIngressStore,
  type LocalFileIngressStoreHooks,
  type LocalFileIngressStoreOptions,
  type LocalIngressWriteOptions,
} from './ingress/local-file-store.js';
export {
  CompiledIngress,
  compileIngressRules,
  findMatchingRule,
  type IngressMatch,
  matchIngressRule,
} from './ingress/match.js';
export type { IngressFormat } from './ingress/origin-request.js';
export {
  type IngressParseOptions,
  type ParsedIngressConfig,
  type ParsedIngressRules,
  parseIngressConfig,
  parseIngressRules,
} from './ingress/parse.js';
export {
  findShadowingRule,
  managedPlacementIndex,
  placementIndex,
  wildcardPlacementIndex,
} from './ingress/placement.js';
export { formatProblem, type IngressProblem, type IngressProblemCode } from './ingress/problems.js';
export {
  type IngressValidation,
  type IngressValidationOptions,
  isCatchAllRule,
  validateIngressRules,
} from './ingress/validate.js';
export {
  asksToPublish,
  LABELS,
  type LabelParse,
  type LabelRequest,
  parseContainerLabels,
} from './labels/container-labels.js';
export {
  LABELS_ACTOR,
  LabelPublisher,
  type LabelPublisherOptions,
  type LabelSyncReport,
} from './labels/label-publisher.js';
// --- the TunnelManager façade ---
export type {
  CnameListFilter,
  CnameRequest,
  CnameResult,
  DeleteOptions,
  DeleteResult,
  DomainView,
  PlannedStep,
  RestartInfo,
  StatusReport,
  TunnelManagerApi,
} from './manager/api.js';
export { AUDIT_ACTIONS } from './manager/audit.js';
export { DomainService, type DomainServiceOptions } from './manager/domain-service.js';
export { type CreateTunnelManagerOptions, createTunnelManager } from './manager/factory.js';
export { HostnamePolicy } from './manager/hostname-policy.js';
export { type LockGuard, MUTATION_LOCK_NAME, MutationLock, type MutationLockOptions } from './manager/mutation-lock.js';
export {
  CREATE_CHECKPOINTS,
  DELETE_CHECKPOINTS,
  INTERRUPTED_MESSAGE,
  type PipelineCheckpoint,
  type PipelineHooks,
  type RestartRequester,
} from './manager/pipeline.js';
export type {
  ReconcileApplyOptions,
  ReconcileApplyResult,
  ReconcileChange,
  ReconcileChangeKind,
  ReconcileFailure,
  ReconcilePlan,
  ReconcileProgress,
} from './manager/reconciler.js';
export type { RecoveredRoute, RecoverReport } from './manager/recover.js';
export { parseOriginSettings, parseRoutePath, type RouteOptionsPolicy } from './manager/route-options.js';
export { TunnelManager, type TunnelManagerDeps } from './manager/tunnel-manager.js';
// --- ports ---
export type { Clock, TimerHandle } from './ports/clock.js';
export type {
  CnameSpec,
  DnsBatch,
  DnsBatchResult,
  DnsProvider,
  DnsRecord,
  MarkChange,
  RecordFilter,
  RecordSpec,
  TunnelInfo,
  TunnelStatusSource,
} from './ports/dns-provider.js';
export type {
  IngressBackup,
  IngressSnapshot,
  IngressStore,
  IngressStoreCapabilities,
} from './ports/ingress-store.js';
export type { LogFields, Logger, LogLevel } from './ports/logger.js';
export type {
  ProcessController,
  ProcessControllerCapabilities,
  ProcessStatus,
  ReplicaStatus,
  RestartOptions,
} from './ports/process-controller.js';
export type {
  ApiTokenRecord,
  AuditRepository,
  DomainRepository,
  HealthRepository,
  IngressOwnerEntry,
  IngressOwnerRepository,
  LabelProblem,
  LabelPublication,
  LabelRepository,
  NewRoute,
  ReplacedRecord,
  ReplacedRecordRepository,
  RestartRequest,
  RestartRequestQueue,
  RouteFilter,
  RouteRepository,
  RouteUpdate,
  StateStore,
  TokenRepository,
  TopologyCache,
} from './ports/state-store.js';
export type { SnapshotOptions, Topology } from './ports/topology.js';
export {
  ChildProcessController,
  type ChildProcessControllerOptions,
} from './process/child-process-controller.js';
export { autoupdateDisabled, defaultCloudflaredArgs, planReplicaArgs } from './process/cloudflared-args.js';
export { SystemdController, type SystemdControllerOptions } from './process/systemd-controller.js';
export {
  defaultCredentialsDirs,
  inspectTunnelCredentials,
  type TunnelCredentialsReport,
} from './process/tunnel-credentials.js';
// --- runtime helpers ---
export { JsonLogger, type JsonLoggerOptions, NoopLogger } from './runtime/loggers.js';
export { redactSecrets, Secret } from './runtime/secret.js';
export { SystemClock } from './runtime/system-clock.js';
// --- state store (embedded default) ---
export { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './state/migrations.js';
export { SqliteStateStore, type SqliteStateStoreOptions } from './state/sqlite-state-store.js';
export { selectCurrentTarget } from './topology/current-target.js';
// --- topology / target selection ---
export {
  assertMayTargetContainer,
  type ContainerOwnershipOptions,
  mayTargetContainer,
  PROJECT_LABEL,
} from './topology/ownership-guard.js';
export {
  CONTAINER_NAME_PATTERN,
  type ParsedTargetRequest,
  parseContainerName,
  parsePort,
  parseTargetRequest,
  type TargetRequest,
} from './topology/target-request.js';
export {
  selectTarget,
  type TargetRoute,
  type TargetSelection,
  type TargetSelectorOptions,
} from './topology/target-selector.js';
