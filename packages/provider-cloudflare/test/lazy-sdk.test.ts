import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Runs the built package in a child process whose module loader refuses `cloudflare`: anything
// that imported the SDK eagerly would fail to load.
const dist = new URL('../dist/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'tm-lazy-sdk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hooks = join(dir, 'hooks.mjs');
writeFileSync(
  hooks,
  `export async function resolve(specifier, context, next) {
  if (specifier === 'cloudflare' || specifier.startsWith('cloudflare/')) throw new Error('BLOCKED: cloudflare was imported');
  return next(specifier, context);
}`,
);
const register = join(dir, 'register.mjs');
writeFileSync(
  register,
  `import { register } from 'node:module'; register(${JSON.stringify(new URL(`file://${hooks}`).href)});`,
);

function runChild(script: string) {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  return spawnSync(process.execPath, ['--import', register, file], { encoding: 'utf8', timeout: 60_000 });
}

describe('lazy SDK import', () => {
  it('loads the package, builds the container and resolves every port without importing the SDK', () => {
    const core = new URL('../../core/dist/index.js', import.meta.url).href;
    const result = runChild(`
      const { cloudflarePlugin } = await import(${JSON.stringify(dist)});
      const { createTunnelManagerContainer, parseConfig, resolvePort } = await import(${JSON.stringify(core)});
      const config = parseConfig({ dataDir: ${JSON.stringify(dir)}, ingress: { mode: 'remote' },
        cloudflare: { apiToken: 't', accountId: '${'a'.repeat(32)}', tunnelId: '6ff42ae2-765d-4adf-8112-31c55c1551ef', baseUrl: 'http://127.0.0.1:9/client/v4' } });
      const c = createTunnelManagerContainer(config, { plugins: [cloudflarePlugin] });
      for (const port of ['DnsProvider', 'TunnelStatusSource', 'IngressStore']) resolvePort(c, port);
      // The first API call is where the SDK loads: here the loader refuses it.
      const error = await resolvePort(c, 'DnsProvider').listZones().then(() => null, (e) => e);
      console.log(JSON.stringify({ code: error?.code, cause: String(error?.cause?.message ?? error?.cause) }));
    `);
    expect(result.stderr).not.toContain('BLOCKED');
    expect(result.status).toBe(0);
    const out = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as { code: string; cause: string };
    expect(out.code).toBe('INTERNAL');
    expect(out.cause).toContain('BLOCKED: cloudflare was imported');
  });
});
