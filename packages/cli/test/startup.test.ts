import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanTempDirs, tempDir } from './support/io.js';
import { cleanEnv, TUNNEL_BIN, TUNNEL_DIST_BIN } from './support/spawn.js';

afterEach(cleanTempDirs);

const TRACE = fileURLToPath(new URL('./fixtures/trace-imports.mjs', import.meta.url));

/** The module URLs `bin` (the unbundled program, unless given) resolves while running `args`. */
async function modulesLoadedBy(
  args: string[],
  env: Record<string, string> = {},
  bin: string = TUNNEL_DIST_BIN,
): Promise<string[]> {
  const file = join(tempDir(), 'imports.txt');
  const run = await execa(process.execPath, ['--import', TRACE, bin, ...args], {
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

// The import graph is checked on the unbundled program, where every module is its own file; the
// bundle keeps each dynamic import as a chunk, and what it leaves out (native code, the SDKs) must
// still load only when used.
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
      TM_DATA_DIR: dir,
      TM_INGRESS__CONFIG_PATH: join(dir, 'cloudflared.yml'),
      TM_DOCKER__ENABLED: 'false',
    });
    expect(loaded.some((url) => url.includes('/packages/core/dist/'))).toBe(true);
    for (const [name, pattern] of HEAVY)
      expect(
        loaded.filter((url) => pattern.test(url)),
        name,
      ).toEqual([]);
  });

  it('the bundled `tunnel` loads none of the packages it leaves out for --help, and for status only SQLite', async () => {
    const external = (loaded: string[]) =>
      [
        ...new Set(loaded.map((url) => /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]).filter(Boolean)),
      ].sort();
    expect(external(await modulesLoadedBy(['--help'], {}, TUNNEL_BIN))).toEqual([]);
    const dir = tempDir();
    const status = await modulesLoadedBy(
      ['status', '--json'],
      {
        TM_DATA_DIR: dir,
        TM_INGRESS__CONFIG_PATH: join(dir, 'cloudflared.yml'),
        TM_DOCKER__ENABLED: 'false',
      },
      TUNNEL_BIN,
    );
    expect(status.every((url) => !url.includes('/packages/core/'))).toBe(true);
    // (The tracer sees ES module resolutions: better-sqlite3's own require()s are not listed.)
    expect(external(status)).toEqual(['better-sqlite3']);
  });
});

describe('a closed stdout', () => {
  it('ends `tunnel` quietly with its exit code, not an EPIPE stack trace', async () => {
    const child = execa(process.execPath, [TUNNEL_BIN, '--help'], {
      env: cleanEnv(),
      extendEnv: false,
      reject: false,
      stdout: 'pipe',
    });
    // Closed before node has even started: the first write meets a pipe with no reader.
    child.stdout?.destroy();
    const result = await child;
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });
});
