/**
 * @tunnel/provider-docker — the Topology and a container ProcessController on a Docker engine
 * (dockerode). Named exports only.
 */
export {
  type CloudflaredHints,
  type HostProcess,
  isCloudflaredImage,
  locateCloudflared,
  runsCloudflared,
  scanHostProcesses,
} from './cloudflared-locator.js';
export {
  DockerContainerController,
  type DockerContainerControllerOptions,
} from './docker-container-controller.js';
export {
  DEFAULT_SOCKET_PATH,
  DOCKER_API_VERSION,
  type DockerConnection,
  DockerEngine,
  type DockerEngineOptions,
  type DockerFailure,
  describeDockerFailure,
} from './docker-engine.js';
export { DockerTopology, type DockerTopologyOptions } from './docker-topology.js';
export {
  type EngineView,
  type RawContainerInspect,
  type RawNetwork,
  toContainerInfo,
  toDockerNetwork,
} from './engine-reader.js';
export { cloudflaredHints, dockerPlugin } from './plugin.js';
