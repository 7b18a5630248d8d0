/** Real processes and servers on the host, for the scenarios where cloudflared or the service runs there. */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface HostProcessStandIn {
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * A real host process named `cloudflared`: coreutils `sleep` copied under that name, so its
 * `/proc/<pid>/exe` and `comm` say cloudflared. It stands in for a systemd-run cloudflared.
 */
export async function startHostCloudflared(): Promise<HostProcessStandIn> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-cfbin-'));
  const exe = join(dir, 'cloudflared');
  copyFileSync('/bin/sleep', exe);
  const child: ChildProcess = spawn(exe, ['900'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    pid: child.pid ?? -1,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HostService {
  readonly port: number;
  close(): Promise<void>;
}

/** An HTTP server on the host answering `marker`, on `host` and a port the kernel picks. */
export async function serveOnHost(host: string, marker: string): Promise<HostService> {
  const server: Server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${marker}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nobody listens on right now. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
