import { PassThrough } from 'node:stream';
import { Actor } from '@tunnel/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStdioServer } from '../src/index.js';
import { startWorld, type World } from './support/world.js';

function lines(stream: PassThrough): () => Array<{ id?: number; result?: Record<string, unknown> }> {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return () =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
}

const send = (stdin: PassThrough, message: Record<string, unknown>) =>
  stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('runStdioServer (in-process streams)', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  async function started() {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const read = lines(stdout);
    const running = await runStdioServer({ manager: world.manager, actor: Actor.project('shop'), stdin, stdout });
    send(stdin, {
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    send(stdin, { method: 'notifications/initialized' });
    await until(() => read().some((m) => m.id === 1));
    return { stdin, read, running };
  }

  // Regression: close() re-entered itself through the transport's onclose and overflowed the stack.
  it('close() settles once, without re-entering itself', async () => {
    const { running } = await started();
    await running.close();
    await running.closed;
    await running.close();
  });

  it('reports closed when stdin ends, only after the tool call in flight has answered', async () => {
    const { stdin, read, running } = await started();
    let closed = false;
    void running.closed.then(() => {
      closed = true;
    });
    send(stdin, {
      id: 2,
      method: 'tools/call',
      params: { name: 'tunnel_request_cname', arguments: { subdomain: 'run', port: 81 } },
    });
    stdin.end();
    await running.closed;
    expect(closed).toBe(true);
    const reply = read().find((m) => m.id === 2);
    expect(reply?.result?.structuredContent).toMatchObject({ hostname: 'run.example.com', outcome: 'created' });
    expect((await world.db.routes.findLive('run.example.com'))?.state).toBe('active');
  });
});
