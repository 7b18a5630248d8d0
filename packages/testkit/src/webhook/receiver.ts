import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local HTTP webhook receiver (what an alert webhook posts to, e.g. Slack): records each POST body; answers `status()` (200 by default). */
export interface Receiver {
  readonly url: string;
  readonly bodies: Array<Record<string, unknown>>;
  /** How many requests arrived (accepted or not). */
  requests: number;
  /** The status the next request gets (called per request). */
  status: () => number;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hooks/T000/secret-token'): Promise<Receiver> {
  const bodies: Array<Record<string, unknown>> = [];
  const receiver = { bodies, requests: 0, status: () => 200 } as Receiver & { server?: Server };
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      receiver.requests += 1;
      const status = receiver.status();
      if (req.url === path && req.method === 'POST' && status < 300)
        bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(req.url === path ? status : 404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
