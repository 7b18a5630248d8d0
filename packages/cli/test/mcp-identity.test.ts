import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { EXIT_USAGE } from '../src/index.js';
import { cleanEnv, TUNNEL_BIN } from './support/spawn.js';

/** The built `tunnel-mcp` of @tunnel/mcp (the workspace package). */
const TUNNEL_MCP_BIN = fileURLToPath(new URL('../../mcp/dist/bin/tunnel-mcp.js', import.meta.url));

describe('a bad identity at start: one exit code for `tunnel mcp` and `tunnel-mcp`', () => {
  it.each([
    ['no identity', [] as string[], {}],
    ['an invalid project flag', ['--project', 'Shop!'], {}],
    ['an invalid TUNNEL_PROJECT', [] as string[], { TUNNEL_PROJECT: '../etc' }],
  ] as const)('%s → exit 2 (usage) from both, with the hint', async (_what, args, extra) => {
    const env = cleanEnv({ ...extra });
    const viaCli = await execa(process.execPath, [TUNNEL_BIN, 'mcp', ...args], {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    const standalone = await execa(process.execPath, [TUNNEL_MCP_BIN, ...args], {
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    expect(standalone.exitCode, standalone.stderr).toBe(EXIT_USAGE);
    expect(viaCli.exitCode, viaCli.stderr).toBe(EXIT_USAGE);
    expect(viaCli.stdout).toBe('');
    expect(viaCli.stderr).toMatch(/refusing to start/);
    expect(viaCli.stderr).toMatch(/--project|project name/);
  });
});
