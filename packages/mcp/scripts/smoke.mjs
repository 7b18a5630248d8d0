// Drives the built tunnel-mcp with the MCP Inspector CLI, the way a person checks a server by
// hand: list the tools, then call tunnel_list_domains. The Cloudflare API is the testkit
// emulator; the state lives in a temp dir. Needs `pnpm build` first, and the npm registry (npx
// fetches the inspector on first use), so it is not part of `pnpm test`.
//
//   pnpm --filter @tunnel/mcp smoke
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCloudflareEmulator } from '@tunnel/testkit';

const INSPECTOR = '@modelcontextprotocol/inspector@2.12.0';
const BIN = fileURLToPath(new URL('../dist/bin/tunnel-mcp.js', import.meta.url));
const TOOLS = [
  'tunnel_get_status',
  'tunnel_request_cname',
  'tunnel_delete_cname',
  'tunnel_list_cnames',
  'tunnel_list_domains',
];
const ACCOUNT = '0123456789abcdef0123456789abcdef';
const TUNNEL = '6ff42ae2-765d-4adf-8112-31c55c1551ef';

const dir = mkdtempSync(join(tmpdir(), 'tm-mcp-smoke-'));
const cf = await startCloudflareEmulator({
  seed: {
    accounts: [{ id: ACCOUNT, name: 'Smoke' }],
    zones: [{ name: 'example.com' }, { name: 'example.org' }],
    tunnels: [{ id: TUNNEL, accountId: ACCOUNT, name: 'smoke', connectors: 1 }],
    tokens: [{ value: 'smoke-token', permissions: 'all' }],
  },
});
const configFile = join(dir, 'config.yml');
writeFileSync(join(dir, 'cloudflared.yml'), 'ingress:\n  - service: http_status:404\n');
writeFileSync(
  configFile,
  JSON.stringify({
    dataDir: dir,
    ingress: { configPath: join(dir, 'cloudflared.yml') },
    cloudflare: { apiToken: 'smoke-token', baseUrl: cf.url, accountId: ACCOUNT, tunnelId: TUNNEL },
    cloudflared: { controller: 'none' },
    docker: { enabled: false },
    policy: { defaultDomain: 'example.com' },
  }),
);

/** One inspector run against a fresh `tunnel-mcp --project smoke` over stdio; returns its JSON output. */
async function inspect(...method) {
  const args = [
    '-y',
    INSPECTOR,
    '--cli',
    '-e',
    `TUNNEL_CONFIG=${configFile}`,
    '-e',
    'TUNNEL_PROJECT=smoke',
    ...method,
    '--',
    process.execPath,
    BIN,
  ];
  // Not spawnSync: the emulator answers from this process's event loop.
  const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), 300_000);
  const status = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  // The inspector exits non-zero when the tool result is an error; the output is still JSON.
  if (status !== 0 && !stdout.includes('"isError": true'))
    throw new Error(`inspector ${method.join(' ')} exited ${status}:\n${stderr}\n${stdout}`);
  return JSON.parse(stdout);
}

let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};

try {
  // --strict: exits 6 if a tool schema has an error-severity portability problem.
  const listed = await inspect('--method', 'tools/list', '--strict');
  const names = listed.tools.map((t) => t.name);
  check(JSON.stringify(names) === JSON.stringify(TOOLS), `tools/list: ${names.join(', ')}`);
  check(
    listed.tools.every((t) => t.inputSchema?.type === 'object' && t.outputSchema?.type === 'object'),
    'every tool has an input and an output schema',
  );
  const domains = await inspect('--method', 'tools/call', '--tool-name', 'tunnel_list_domains');
  const found = domains.structuredContent?.domains?.map((d) => `${d.name}${d.isDefault ? ' (default)' : ''}`) ?? [];
  check(!domains.isError && found.includes('example.com (default)'), `tunnel_list_domains: ${found.join(', ')}`);
  const bad = await inspect('--method', 'tools/call', '--tool-name', 'tunnel_request_cname', '--tool-arg', 'port=0');
  check(
    bad.isError === true && bad.structuredContent?.error?.code === 'INVALID_INPUT',
    `bad input is a tool error: ${bad.structuredContent?.error?.code}`,
  );
} catch (error) {
  check(false, String(error));
} finally {
  await cf.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
