import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanTempDirs, tempDir } from './support/io.js';
import { cleanEnv, TUNNEL_BIN } from './support/spawn.js';

afterEach(cleanTempDirs);

const TRACE = fileURLToPath(new URL('./fixtures/trace-imports.mjs', import.meta.url));

/** The module URLs the built `tunnel` resolves while running `args`. */
async function modulesLoadedBy(args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const file = join(tempDir(), 'imports.txt');
  const run = await execa(process.execPath, ['--import', TRACE, TUNNEL_BIN, ...args], {
    env: cleanEnv({ TRACE_IMPORTS_FILE: file, ...env }),
    extendEnv: false,
    reject: false,
  });
  expect(run.exitCode, run.stderr).toBe(0);
  return readFileSync(file, 'utf8').trim().split('\n');
}

const HEAVY = [
  ['the Cloudflare SDK', /\/node_modules\/cloudflare\//],
  ['dockerode', /\/node_modules\/dockerode\//],
  ['the MCP SDK', /\/@modelcontextprotocol\//],
  ['@tunnel/provider-cloudflare', /\/packages\/provider-cloudflare\//],
  ['@tunnel/provider-docker', /\/packages\/provider-docker\//],
] as const;

describe('start-up cost', () => {
  it('`tunnel --help` loads no provider SDK, no MCP SDK and not even core', async () => {
    const loaded = await modulesLoadedBy(['--help']);
    expect(loaded.some((url) => url.includes('/packages/cli/dist/program.js'))).toBe(true);
    for (const [name, pattern] of HEAVY)
      expect(
        loaded.filter((url) => pattern.test(url)),
        name,
      ).toEqual([]);
    expect(loaded.filter((url) => url.includes('/packages/core/'))).toEqual([]);
  });

  it('`tunnel status --json` reads the database without loading a provider or MCP SDK', async () => {
    const dir = tempDir();
    const loaded = await modulesLoadedBy(['status', '--json'], {
      TUNNEL_DATA_DIR: dir,
      TUNNEL_INGRESS__CONFIG_PATH: join(dir, 'cloudflared.yml'),
      TUNNEL_DOCKER__ENABLED: 'false',
    });
    expect(loaded.some((url) => url.includes('/packages/core/dist/'))).toBe(true);
    for (const [name, pattern] of HEAVY)
      expect(
        loaded.filter((url) => pattern.test(url)),
        name,
      ).toEqual([]);
  });
});
