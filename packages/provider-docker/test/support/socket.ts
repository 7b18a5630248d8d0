/** Unix-socket HTTP servers that stand where a Docker socket would be, for the refusal cases. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SocketServer {
  readonly path: string;
  /** Requests received so far. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves `handler` on a fresh socket path; `handler` undefined never answers. */
export async function startSocketServer(
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<SocketServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-sock-'));
  const path = join(dir, 'docker.sock');
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler?.(req, res);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An engine behind an authorization plugin that denies everything. */
export const denyAll = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(403, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message: 'authorization denied by plugin tm-test' }));
};
