import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeToolSuite } from './support/tool-suite.js';
import { BIN, connectStdio, startWorld, type World } from './support/world.js';

describeToolSuite('MCP over stdio (the built tunnel-mcp, one process per identity)', async () => {
  const world = await startWorld();
  return {
    world,
    connect: (actor) => connectStdio(world, actor),
    close: () => world.close(),
  };
});

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the bin to completion (stdin closed at once), collecting its output. */
function run(args: readonly string[], env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('tunnel-mcp: identity at start', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('refuses to start without an identity, saying how to give one', async () => {
    const exit = await run(['--config', world.configFile]);
    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).toMatch(/refusing to start: No identity/);
    expect(exit.stderr).toMatch(/--project <name>.*TUNNEL_PROJECT.*--admin/s);
  });

  it('refuses an invalid project, from the flag or the environment', async () => {
    for (const [args, env] of [
      [['--project', 'Shop!'], {}],
      [[], { TUNNEL_PROJECT: '../etc' }],
    ] as const) {
      const exit = await run(['--config', world.configFile, ...args], env);
      expect(exit.code).toBe(2);
      expect(exit.stdout).toBe('');
      expect(exit.stderr).toMatch(/Invalid project name/);
      expect(exit.stderr).toMatch(/hint: A project name is 1–63 characters/);
    }
  });

  it('refuses a project and admin at once, and identity flags with --http', async () => {
    const both = await run(['--config', world.configFile, '--project', 'shop', '--admin']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/both a project and admin/);
    const http = await run(['--config', world.configFile, '--http', '--project', 'shop']);
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/each bearer token carries its own identity/);
  });

  it('reports a bad config file instead of starting', async () => {
    const exit = await run(['--config', `${world.dir}/missing.yml`, '--project', 'shop']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/Cannot read the config file/);
  });

  it('takes the project from TUNNEL_PROJECT, and exits cleanly when the client closes stdin', async () => {
    const child = spawn(process.execPath, [BIN, '--config', world.configFile], {
      env: { PATH: process.env.PATH ?? '', TUNNEL_PROJECT: 'shop' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const message = (id: number, method: string, params: unknown) =>
      `${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`;
    child.stdin.write(
      message(1, 'initialize', {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      }),
    );
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    child.stdin.write(message(2, 'tools/call', { name: 'tunnel_list_cnames', arguments: {} }));
    const deadline = Date.now() + 20_000;
    while (!stdout.includes('"id":2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.stdin.end();
    expect(await exited).toBe(0);
    const lines = stdout.trim().split('\n');
    // Only JSON-RPC on stdout: every line parses.
    const replies = lines.map((line) => JSON.parse(line) as { id: number; result: { structuredContent: unknown } });
    expect(replies.map((r) => r.id)).toEqual([1, 2]);
    expect(replies[1]?.result.structuredContent).toEqual({ routes: [], count: 0 });
  });
});
