import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '@tunnel/testkit';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import {
  Hostname,
  IngressManager,
  isTunnelError,
  LocalFileIngressStore,
  NoopLogger,
  parseConfigFile,
  parseIngressConfig,
} from '../../src/index.js';
import { tempDirs } from './helpers.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const temp = tempDirs();
afterAll(() => temp.cleanup());

/** Hand-written rules and comments in the places people put them, including awkward ones. */
const CONFIG = `# Production tunnel. Ask ops before editing.
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef
credentials-file: /etc/cloudflared/6ff42ae2.json
originRequest: {connectTimeout: 10s, noTLSVerify: no}
ingress:
    # first comment, indented deeper than the dashes
  - hostname: www.example.com
    service: 'http://localhost:8080'   # quoted
  -   hostname: "legacy.example.com"
      path: "^/(old|older)/"
      service: http://localhost:8081
      originRequest:
        httpHostHeader: legacy.internal
# a comment at column 0 inside the list

  - hostname: ÜBER.example.com
    service: http://localhost:8082
  - path: ^/.well-known/acme-challenge/
    service: http://acme:80
  # wildcards after the exact names
  - hostname: "*.example.com"
    service: http_status:403
  - service: http_status:404  # catch-all
  # after the catch-all
warp-routing:
  enabled: true
# end of file
`;

const HAND_ENTRIES = [
  "  - hostname: www.example.com\n    service: 'http://localhost:8080'   # quoted\n",
  '  -   hostname: "legacy.example.com"\n      path: "^/(old|older)/"\n      service: http://localhost:8081\n      originRequest:\n        httpHostHeader: legacy.internal\n',
  '  - hostname: ÜBER.example.com\n    service: http://localhost:8082\n',
  '  - path: ^/.well-known/acme-challenge/\n    service: http://acme:80\n',
  '  - hostname: "*.example.com"\n    service: http_status:403\n',
  '  - service: http_status:404  # catch-all\n',
];
const COMMENTS = CONFIG.split('\n').filter((line) => line.trim().startsWith('#'));
const HEAD = CONFIG.slice(0, CONFIG.indexOf('ingress:\n') + 'ingress:\n'.length);
const TAIL = CONFIG.slice(CONFIG.indexOf('  # after the catch-all\n'));

// Names a project might ask for, including ones the hand-written rules already serve.
const NAMES = [
  'app.example.com',
  'api.example.com',
  'Shop.Example.com',
  'münchen.example.com',
  'a.b.example.com',
  'example.com',
  'x1.example.org',
  'www.example.com',
  'über.example.com',
  'legacy.example.com',
];
const OWNERS = ['alpha', 'beta', '@admin'];
const SERVICES = ['http://web:3000', 'https://localhost:8443', 'tcp://db:5432', 'http_status:418'];

type Op = { kind: 'add'; name: number; owner: number; service: number } | { kind: 'remove'; name: number };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    name: fc.nat(NAMES.length - 1),
    owner: fc.nat(OWNERS.length - 1),
    service: fc.nat(SERVICES.length - 1),
  }),
  fc.record({ kind: fc.constant('remove' as const), name: fc.nat(NAMES.length - 1) }),
);

function checkFile(text: string, model: Map<string, { owner: string; service: string }>): void {
  // 1. It parses (independently of the store's own reader) and cloudflared would accept it.
  const doc = parseDocument(text);
  expect(doc.errors).toEqual([]);
  expect(parseIngressConfig(doc.toJS(), { format: 'yaml' }).errors).toEqual([]);
  const file = parseConfigFile(text);
  expect(file.errors).toEqual([]);
  // 2. Everything outside the list, every hand-written entry and every comment is unchanged.
  expect(text.startsWith(HEAD)).toBe(true);
  expect(text.endsWith(TAIL)).toBe(true);
  let from = 0;
  for (const entry of HAND_ENTRIES) {
    const at = text.indexOf(entry, from);
    expect(at, `hand-written entry kept in order: ${entry}`).toBeGreaterThanOrEqual(from);
    from = at + entry.length;
  }
  for (const comment of COMMENTS) expect(text).toContain(`${comment}\n`);
  // 3. The managed rules are exactly the model's.
  const managed = new Map(
    file.rules.filter((r) => r.managed).map((r) => [r.hostname, { owner: r.managed?.owner, service: r.service }]),
  );
  expect(managed).toEqual(model);
}

describe('LocalFileIngressStore under random add/remove sequences', () => {
  it('keeps the file valid and every hand-written rule and comment intact (500 sequences)', async () => {
    const dir = temp.make();
    const path = join(dir, 'config.yml');
    const store = new LocalFileIngressStore({ path, backupDir: join(dir, 'backups'), backups: 3 });
    const ingress = new IngressManager(store, new ManualClock(), new NoopLogger());
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
        writeFileSync(path, CONFIG);
        const model = new Map<string, { owner: string; service: string }>();
        for (const o of ops) {
          const hostname = Hostname.parse(NAMES[o.name]).value;
          try {
            if (o.kind === 'add') {
              const owner = OWNERS[o.owner] as string;
              const service = SERVICES[o.service] as string;
              await ingress.upsertManagedRule({ hostname, service, owner, instance: ME });
              model.set(hostname, { owner, service });
            } else {
              await ingress.removeManagedRule(hostname, { instance: ME });
              model.delete(hostname);
            }
          } catch (error) {
            // Refusals are part of the contract: a name another owner or a hand-written rule
            // holds. They must change nothing (checked below against the unchanged model).
            if (!isTunnelError(error, 'HOSTNAME_TAKEN')) throw error;
            const holder = model.get(hostname);
            expect(holder === undefined || holder.owner !== OWNERS[(o as { owner: number }).owner]).toBe(true);
          }
          checkFile(readFileSync(path, 'utf8'), model);
        }
      }),
      { numRuns: 500 },
    );
    await store.settled();
  }, 600_000);
});
