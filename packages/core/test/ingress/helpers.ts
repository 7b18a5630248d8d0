import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IngressRule } from '../../src/index.js';

/** A temporary directory per test, removed afterwards (call `cleanup` in afterEach). */
export function tempDirs() {
  const dirs: string[] = [];
  return {
    make(prefix = 'tm-ingress-'): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    cleanup(): void {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A config.yml the way an operator writes one: comments, other settings, hand-written rules. */
export const HAND_WRITTEN_CONFIG = `# cloudflared configuration for this VM — edited by hand
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: /etc/cloudflared/6ff42ae2-765d-4adf-8112-31c55c1551ef.json
metrics: 127.0.0.1:20241

originRequest:
  connectTimeout: 30s   # slow origins

ingress:
  # the company site
  - hostname: www.example.com
    service: 'http://localhost:8080'
  - hostname: static.example.com
    path: ^/assets/
    service: http://localhost:8081
    originRequest:
      noTLSVerify: yes

  # fallbacks
  - hostname: "*.example.com"
    service: http_status:403
  - service: http_status:404   # the catch-all

warp-routing:
  enabled: false
`;

export function writeConfig(dir: string, text = HAND_WRITTEN_CONFIG, name = 'config.yml'): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Inserts `rule` before the last (catch-all) rule. */
export const beforeCatchAll = (rules: readonly IngressRule[], rule: IngressRule): IngressRule[] => [
  ...rules.slice(0, -1),
  rule,
  ...rules.slice(-1),
];

export const managedRule = (n: number, owner = 'alpha'): IngressRule => ({
  hostname: `app${n}.example.com`,
  service: `http://web-${n}:8080`,
  managed: { owner },
});
