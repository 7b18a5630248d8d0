import { TunnelError } from '@tunnel/core';
import Docker from 'dockerode';

export const DEFAULT_SOCKET_PATH = '/var/run/docker.sock';

/**
 * The Engine API version this provider is written against (Docker 20.10). Paths are versioned
 * (`/v1.41/containers/json`) so a newer engine answers in the shape the code expects; an older
 * engine is asked for its own version instead.
 */
export const DOCKER_API_VERSION = '1.41';

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface DockerEngineOptions {
  /** @default '/var/run/docker.sock' */
  readonly socketPath?: string;
  /** Highest API version to use. @default '1.41' */
  readonly apiVersion?: string;
  /** Timeout of one API request. @default 10000 */
  readonly requestTimeoutMs?: number;
}

export interface DockerConnection {
  /** A client whose paths carry `/v<apiVersion>`. */
  readonly docker: Docker;
  /** The version negotiated with the engine, e.g. `1.41`. */
  readonly apiVersion: string;
}

const versionParts = (v: string) => v.split('.').map((part) => Number.parseInt(part, 10) || 0);
function olderOf(a: string, b: string): string {
  const [am = 0, an = 0] = versionParts(a);
  const [bm = 0, bn = 0] = versionParts(b);
  return am < bm || (am === bm && an < bn) ? a : b;
}

/**
 * One Docker engine, reached over its Unix socket through dockerode. Negotiates the API version
 * once (a failed attempt is retried on the next call) and gives every request a timeout.
 */
export class DockerEngine {
  readonly socketPath: string;
  readonly requestTimeoutMs: number;
  readonly #maxVersion: string;
  #connection: Promise<DockerConnection> | null = null;

  constructor(options: DockerEngineOptions = {}) {
    this.socketPath = options.socketPath ?? DEFAULT_SOCKET_PATH;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#maxVersion = options.apiVersion ?? DOCKER_API_VERSION;
  }

  connect(): Promise<DockerConnection> {
    if (!this.#connection) {
      this.#connection = this.#negotiate();
      this.#connection.catch(() => {
        this.#connection = null;
      });
    }
    return this.#connection;
  }

  /** An abort signal for one request: the default timeout, or `ms`. */
  timeout(ms: number = this.requestTimeoutMs): AbortSignal {
    return AbortSignal.timeout(ms);
  }

  async #negotiate(): Promise<DockerConnection> {
    // `/version` is the one path every engine serves unversioned.
    // (dockerode's declarations omit the options argument `version` accepts.)
    const probe = new Docker({ socketPath: this.socketPath }) as unknown as {
      version(options: { abortSignal: AbortSignal }): Promise<{ ApiVersion?: string }>;
    };
    const info = await probe.version({ abortSignal: this.timeout() });
    const apiVersion = info.ApiVersion ? olderOf(info.ApiVersion, this.#maxVersion) : this.#maxVersion;
    return { docker: new Docker({ socketPath: this.socketPath, version: `v${apiVersion}` }), apiVersion };
  }
}

/** Why the engine could not be used, in words for operators and agents. */
export interface DockerFailure {
  readonly reason: string;
  /**
   * `process`: only this process is refused (socket permissions, an authorization plugin);
   * `engine`: the engine itself is absent, down or failing, for every process.
   */
  readonly scope: 'process' | 'engine';
  /** The HTTP status, when the engine answered. */
  readonly statusCode: number | null;
}

interface ErrorShape {
  code?: unknown;
  name?: unknown;
  statusCode?: unknown;
  json?: unknown;
  cause?: unknown;
}

/** Whether `error` came from talking to the engine (a system error, an HTTP status, a timeout). */
export function isDockerTransportError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as ErrorShape;
  return (
    typeof e.code === 'string' ||
    typeof e.statusCode === 'number' ||
    e.name === 'AbortError' ||
    e.name === 'TimeoutError'
  );
}

function engineMessage(e: ErrorShape): string {
  const json = e.json as { message?: unknown } | null | undefined;
  return json && typeof json === 'object' && typeof json.message === 'string' ? `: ${json.message.slice(0, 200)}` : '';
}

/** Maps a dockerode failure by its code or HTTP status (never by message text). */
export function describeDockerFailure(
  error: unknown,
  engine: Pick<DockerEngine, 'socketPath' | 'requestTimeoutMs'>,
): DockerFailure {
  const e = (error && typeof error === 'object' ? error : {}) as ErrorShape;
  const path = engine.socketPath;
  if (typeof e.statusCode === 'number') {
    const status = e.statusCode;
    const denied = status === 401 || status === 403;
    return {
      reason: denied
        ? `the Docker engine at ${path} refused access (HTTP ${status}${engineMessage(e)})`
        : `the Docker engine at ${path} answered HTTP ${status}${engineMessage(e)}`,
      scope: denied ? 'process' : 'engine',
      statusCode: status,
    };
  }
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') {
    return {
      reason: `the Docker engine at ${path} did not answer within ${engine.requestTimeoutMs} ms`,
      scope: 'engine',
      statusCode: null,
    };
  }
  switch (e.code) {
    case 'ENOENT':
      return { reason: `the Docker socket ${path} does not exist`, scope: 'engine', statusCode: null };
    case 'EACCES':
    case 'EPERM':
      return { reason: `permission denied on the Docker socket ${path}`, scope: 'process', statusCode: null };
    case 'ECONNREFUSED':
      return {
        reason: `nothing accepts connections on the Docker socket ${path} (dockerd is not running)`,
        scope: 'engine',
        statusCode: null,
      };
    case 'ENOTSOCK':
      return { reason: `${path} is not a socket`, scope: 'engine', statusCode: null };
    case 'ECONNRESET':
    case 'EPIPE':
      return { reason: `the Docker engine at ${path} closed the connection`, scope: 'engine', statusCode: null };
    default:
      return {
        reason: `cannot use the Docker engine at ${path} (${typeof e.code === 'string' ? e.code : String(error)})`,
        scope: 'engine',
        statusCode: null,
      };
  }
}

/** A TunnelError for a failed engine call made on an operator's behalf (start, stop, restart). */
export function dockerCallError(error: unknown, engine: DockerEngine, what: string): TunnelError {
  const failure = describeDockerFailure(error, engine);
  if (failure.scope === 'process') {
    return new TunnelError('AUTH_FAILED', `Cannot ${what}: ${failure.reason}.`, {
      hint: `Give the manager's user access to ${engine.socketPath} (add it to the docker group, or allow it in the authorization plugin), then retry.`,
      cause: error,
    });
  }
  return new TunnelError('PROVIDER_UNAVAILABLE', `Cannot ${what}: ${failure.reason}.`, {
    hint: `Make sure dockerd is running and listens on ${engine.socketPath} (docker.socketPath), then retry.`,
    cause: error,
  });
}
