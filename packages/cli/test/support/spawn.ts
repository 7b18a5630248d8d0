import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import type { SandboxInfo } from '../../src/index.js';

/** The built executable, run as a user runs it: the bundle `pnpm build` makes (`pnpm test` builds it first). */
export const TUNNEL_BIN = fileURLToPath(new URL('../../bundle/tunnel.js', import.meta.url));

/** The same program unbundled, as `tsc -b` emits it: one file per module, for tests of the import graph. */
export const TUNNEL_DIST_BIN = fileURLToPath(new URL('../../dist/bin/tunnel.js', import.meta.url));

/** The environment of a user's shell, without any TUNNEL_* / TM_* variable of the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value !== undefined &&
      !key.startsWith('TUNNEL_') &&
      !key.startsWith('TM_') &&
      key !== 'CLOUDFLARE_API_TOKEN' &&
      key !== 'NODE_OPTIONS'
    ) {
      env[key] = value;
    }
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tunnel <args>` to completion (generous timeout: the machine is shared). */
export async function tunnel(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  const result = await execa(process.execPath, [TUNNEL_BIN, ...args], {
    env,
    extendEnv: false,
    reject: false,
    timeout: 120_000,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Polls `check` until it returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface RunningSandbox {
  readonly process: ResultPromise;
  readonly info: SandboxInfo;
  readonly env: Record<string, string>;
  output(): string;
  /** SIGTERM, then the exit code (SIGKILL after a long grace). */
  stop(): Promise<number | null>;
}

/** Starts `tunnel sandbox --data-dir <dir>` and waits until it has written `sandbox.json`. */
export async function startSandboxProcess(dataDir: string, extraArgs: readonly string[] = []): Promise<RunningSandbox> {
  const env = cleanEnv();
  const child = execa(process.execPath, [TUNNEL_BIN, 'sandbox', '--data-dir', dataDir, ...extraArgs], {
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    all: true,
  });
  let output = '';
  child.all?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const infoPath = join(dataDir, 'sandbox.json');
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  const info = await waitFor(
    'the sandbox to come up',
    () => {
      if (exited) throw new Error(`the sandbox exited:\n${output}`);
      if (!existsSync(infoPath)) return undefined;
      const parsed = JSON.parse(readFileSync(infoPath, 'utf8')) as SandboxInfo;
      return parsed.pid === child.pid ? parsed : undefined;
    },
    90_000,
  ).catch((error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\n--- sandbox output ---\n${output}`);
  });
  return {
    process: child,
    info,
    env: { ...env, TUNNEL_CONFIG: info.configPath },
    output: () => output,
    async stop() {
      if (exited) return (await child).exitCode ?? null;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const result = await child;
      clearTimeout(timer);
      return result.exitCode ?? null;
    },
  };
}

/** GET a URL: status and body. */
export async function httpGet(url: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** Whether a process id is alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
