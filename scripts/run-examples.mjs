// Runs the library examples against the embedded sandbox, as CI does (`pnpm examples`): starts
// `tunnel sandbox` in a temporary data directory, runs examples/dist/embed-core.js (the manager
// embedded, TUNNEL_CONFIG pointing at the sandbox) and examples/dist/dns-provider-only.js (the
// Cloudflare provider alone, on the emulated API), then stops the sandbox. Prints
// `examples: N passed, N failed` last and exits with the number that failed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tunnel = join(root, 'packages/cli/bundle/tunnel.js');
const dataDir = mkdtempSync(join(tmpdir(), 'tunnel-examples-'));
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('TUNNEL_') && !k.startsWith('TM_')),
);

const sandbox = spawn(process.execPath, [tunnel, 'sandbox', '--data-dir', dataDir], {
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
sandbox.stdout.on('data', (c) => (output += c));
sandbox.stderr.on('data', (c) => (output += c));

const infoPath = join(dataDir, 'sandbox.json');
const deadline = Date.now() + 90_000;
let info = null;
while (!info) {
  if (sandbox.exitCode !== null) break;
  if (existsSync(infoPath)) info = JSON.parse(readFileSync(infoPath, 'utf8'));
  else if (Date.now() > deadline) break;
  else await new Promise((r) => setTimeout(r, 200));
}

let passed = 0;
let failed = 0;
if (!info) {
  console.error(`the sandbox did not start:\n${output}`);
  failed = 2;
} else {
  const token = readFileSync(join(dataDir, 'cloudflare-api-token'), 'utf8').trim();
  const runs = [
    ['embed-core', { TUNNEL_CONFIG: info.configPath }],
    ['dns-provider-only', { CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_BASE_URL: info.apiUrl }],
  ];
  for (const [name, extra] of runs) {
    const result = spawnSync(process.execPath, [join(root, 'examples/dist', `${name}.js`)], {
      env: { ...env, ...extra },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const ok = result.status === 0;
    console.log(`${ok ? 'PASS' : 'FAIL'} examples/src/${name}.ts`);
    for (const line of `${result.stdout}${result.stderr}`.trim().split('\n')) console.log(`  ${line}`);
    if (ok) passed += 1;
    else failed += 1;
  }
}

sandbox.kill('SIGTERM');
await new Promise((resolve) => {
  if (sandbox.exitCode !== null) resolve();
  else sandbox.once('exit', resolve);
});
rmSync(dataDir, { recursive: true, force: true });
console.log(`examples: ${passed} passed, ${failed} failed`);
process.exit(failed);
