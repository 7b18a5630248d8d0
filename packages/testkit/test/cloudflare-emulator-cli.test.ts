import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Cloudflare from 'cloudflare';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

// Child processes run the built JS, which `pnpm test` builds first.
const BIN = new URL('../dist/bin/cloudflare-emulator.js', import.meta.url).pathname;

interface Started {
  url: string;
  origin: string;
  port: number;
  statePath: string | null;
  tokens: Array<{ name: string; value: string; permissions: string[] }>;
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tm-cf-cli-'));

/** Starts the CLI and resolves with its first stdout line (generous deadline: shared CPU). */
function start(args: string[]): Promise<{ child: ChildProcess; started: Started }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator did not start; stderr: ${stderr}`)), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}; stderr: ${stderr}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ child, started: JSON.parse(line) as Started });
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return exited(child).then((code) => ({ code, stdout, stderr }));
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cloudflare-emulator command', () => {
  it('starts with the default seed, serves the SDK, persists, and stops on SIGTERM', async () => {
    const statePath = join(dir, 'default', 'state.json');
    const { child, started } = await start(['--state', statePath, '--token', 'cli-token']);
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/client\/v4$/);
    expect(started.tokens.map((t) => t.value)).toEqual(['cli-token']);
    const client = new Cloudflare({
      apiToken: 'cli-token',
      apiKey: null,
      apiEmail: null,
      baseURL: started.url,
      maxRetries: 0,
    });
    const zones = await client.zones.list();
    expect(zones.result.map((z) => z.name)).toEqual(['example.com']);
    const zoneId = zones.result[0]?.id ?? '';
    await client.dns.records.create({ zone_id: zoneId, type: 'TXT', name: 'cli', content: 'x', ttl: 1 });
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);

    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { records: Array<{ name: string }> };
    expect(state.records.map((r) => r.name)).toEqual(['cli.example.com']);
    // Restarted on the same file: the record is still there and the default seed is not replanted.
    const again = await start(['--state', statePath]);
    const client2 = new Cloudflare({
      apiToken: 'cli-token',
      apiKey: null,
      apiEmail: null,
      baseURL: again.started.url,
      maxRetries: 0,
    });
    const records = await client2.dns.records.list({ zone_id: zoneId });
    expect(records.result.map((r) => r.name)).toEqual(['cli.example.com']);
    expect(again.started.tokens.map((t) => t.value)).toEqual(['cli-token']);
    again.child.kill('SIGTERM');
    expect(await exited(again.child)).toBe(0);
  });

  it('plants a seed file and turns on the rate limiter', async () => {
    const seedPath = join(dir, 'seed.json');
    writeFileSync(
      seedPath,
      JSON.stringify({
        zones: [{ name: 'seeded.example' }],
        tokens: [{ value: 'seeded', permissions: ['zone:read'] }],
      }),
    );
    const { child, started } = await start(['--seed', seedPath, '--rate-limit', '2/60']);
    const client = new Cloudflare({
      apiToken: 'seeded',
      apiKey: null,
      apiEmail: null,
      baseURL: started.url,
      maxRetries: 0,
    });
    expect((await client.zones.list()).result.map((z) => z.name)).toEqual(['seeded.example']);
    await client.zones.list();
    await expect(client.zones.list()).rejects.toBeInstanceOf(Cloudflare.RateLimitError);
    expect(started.statePath).toBeNull();
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('prints help, and refuses a bad option with exit code 2 and nothing written', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--rate-limit');
    const statePath = join(dir, 'bad', 'state.json');
    const bad = await run(['--state', statePath, '--rate-limit', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--rate-limit must look like 1200/300');
    expect(existsSync(statePath)).toBe(false);
    expect((await run(['--nope'])).code).toBe(2);
  });
});
