import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { SimFaultUpdate } from './faults.js';
import type { SimState } from './simulator.js';

/**
 * The built `cloudflared-sim` executable (`dist/bin/cloudflared-sim.js`). Run it with
 * `process.execPath`; `cloudflaredSimCommand()` gives both.
 */
export function cloudflaredSimPath(): string {
  // Found through the package, not relative to this file: this code also runs bundled into the
  // `tunnel` executable (packages/cli/bundle/), where a relative path would point nowhere.
  const packageJson = createRequire(import.meta.url).resolve('@tunnel/testkit/package.json');
  return join(dirname(packageJson), 'dist', 'bin', 'cloudflared-sim.js');
}

/**
 * How to start the simulation where a `cloudflared` command is expected, e.g. for
 * `cloudflared.child.command` / `args`: `{command: node, args: [simPath]}` — append the usual
 * `tunnel --config … run`.
 */
export function cloudflaredSimCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [cloudflaredSimPath()] };
}

export interface StartSimOptions {
  readonly configPath: string;
  /** @default '127.0.0.1:0' (a random port; pass 'localhost:0' for cloudflared's 20241–20245 search) */
  readonly metrics?: string;
  /** A Go duration. @default cloudflared's 30s */
  readonly gracePeriod?: string;
  /** Start-up faults in the `CLOUDFLARED_SIM_FAULTS` format, e.g. `slow-start=1s,hang`. */
  readonly faults?: string;
  /** More arguments after `run` (e.g. a tunnel name). */
  readonly runArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** How a simulated cloudflared ended. */
export interface SimExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running simulated cloudflared, started by `startCloudflaredSim`. */
export class SimProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** e.g. `http://127.0.0.1:20241`, read from its "Starting metrics server on …" log line. */
  readonly metricsUrl: string;
  readonly exited: Promise<SimExit>;
  #output: string[];

  constructor(child: ChildProcess, metricsUrl: string, exited: Promise<SimExit>, output: string[]) {
    this.child = child;
    this.pid = child.pid as number;
    this.metricsUrl = metricsUrl;
    this.exited = exited;
    this.#output = output;
  }

  /** Everything it printed so far (stdout and stderr). */
  output(): string {
    return this.#output.join('');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async state(): Promise<SimState> {
    const { body } = await httpJson(`${this.metricsUrl}/sim/state`, 'GET');
    return body as SimState;
  }

  /** Changes its faults at run time (`POST /sim/fault`). */
  async setFaults(update: SimFaultUpdate): Promise<SimState> {
    const { status, body } = await httpJson(`${this.metricsUrl}/sim/fault`, 'POST', update);
    if (status !== 200) throw new Error(`setFaults: ${status} ${JSON.stringify(body)}`);
    return body as SimState;
  }

  /** Polls `/ready` until it answers 200. */
  async waitUntilReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`the simulated cloudflared exited:\n${this.output()}`);
      const status = await httpJson(`${this.metricsUrl}/ready`, 'GET', undefined, 2_000)
        .then((r) => r.status)
        .catch(() => 0);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms:\n${this.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM, then SIGKILL if it is still there after `killAfterMs`. */
  async stop(killAfterMs = 10_000): Promise<SimExit> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), killAfterMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }
}

/**
 * Starts the built simulated cloudflared as a child process and resolves once its metrics
 * server listens. Rejects with its output if it exits first (an invalid config, for example).
 */
export async function startCloudflaredSim(options: StartSimOptions): Promise<SimProcess> {
  const args = [
    cloudflaredSimPath(),
    'tunnel',
    '--config',
    options.configPath,
    '--metrics',
    options.metrics ?? '127.0.0.1:0',
    ...(options.gracePeriod ? ['--grace-period', options.gracePeriod] : []),
    'run',
    ...(options.runArgs ?? []),
  ];
  const env = { ...(options.env ?? process.env) };
  if (options.faults !== undefined) env.CLOUDFLARED_SIM_FAULTS = options.faults;
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<SimExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const metricsUrl = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      seen += text;
      const match = /Starting metrics server on (\S+)\/metrics/.exec(seen);
      if (match) resolve(`http://${match[1]}`);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    void exited.then((exit) =>
      reject(
        new Error(
          `the simulated cloudflared exited (code ${exit.code}, signal ${exit.signal}) before serving:\n${output.join('')}`,
        ),
      ),
    );
  });
  return new SimProcess(child, metricsUrl, exited, output);
}

/** A small HTTP client for the sim's endpoints (no keep-alive, so nothing lingers). */
export function httpJson(
  url: string,
  method: 'GET' | 'POST',
  body?: unknown,
  timeoutMs = 5_000,
): Promise<{ status: number; body: unknown; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method,
        agent: false,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          let parsed: unknown = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = null;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}
