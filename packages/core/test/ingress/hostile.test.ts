import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  IngressManager,
  type IngressRule,
  isTunnelError,
  LocalFileIngressStore,
  NoopLogger,
  parseConfigFile,
} from '../../src/index.js';
import { beforeCatchAll, HAND_WRITTEN_CONFIG, tempDirs, writeConfig } from './helpers.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const temp = tempDirs();
afterEach(() => temp.cleanup());

const HOSTILE: readonly [string, string][] = [
  ['a newline', 'evil.example.com\n  - hostname: pwned.example.com'],
  ['a carriage return', 'evil.example.com\rservice: x'],
  ['a comment sign', 'evil.example.com # tunnel-manager:root'],
  ['a mapping indicator', 'evil.example.com: {service: x}'],
  ['a flow mapping', '{hostname: x}'],
  ['double quotes', '"evil.example.com"'],
  ['single quotes', "'evil'.example.com"],
  ['a YAML document marker', '---\ningress: []'],
  ['an anchor and alias', '&x evil.example.com'],
  ['a NUL byte', 'evil\u0000.example.com'],
  ['a tab', 'evil\t.example.com'],
  ['a right-to-left override', 'evil\u202e.example.com'],
  ['a zero-width space', 'evil\u200b.example.com'],
  ['a line separator', 'evil\u2028.example.com'],
  ['a lone surrogate', 'evil\ud800.example.com'],
  ['10 kB', `${'a'.repeat(10_240)}.example.com`],
];

function setup() {
  const dir = temp.make();
  const path = writeConfig(dir);
  const backupDir = join(dir, 'backups');
  const store = new LocalFileIngressStore({ path, backupDir });
  const ingress = new IngressManager(store, new ManualClock(), new NoopLogger());
  return { path, backupDir, store, ingress };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    if (!isTunnelError(error)) throw error;
    expect(error.hint.length).toBeGreaterThan(0);
    return error.code;
  }
}

describe('hostile values cannot change the YAML structure', () => {
  it.each(HOSTILE)(
    '%s in a hostname, service or project name is refused before anything is written',
    async (_, value) => {
      const { path, backupDir, store, ingress } = setup();
      const attempts = [
        ingress.upsertManagedRule({ hostname: value, service: 'http://web:80', owner: 'alpha', instance: ME }),
        ingress.upsertManagedRule({
          hostname: 'ok.example.com',
          service: `http://${value}`,
          owner: 'alpha',
          instance: ME,
        }),
        ingress.upsertManagedRule({ hostname: 'ok.example.com', service: value, owner: 'alpha', instance: ME }),
        ingress.upsertManagedRule({ hostname: 'ok.example.com', service: 'http://web:80', owner: value, instance: ME }),
      ];
      for (const attempt of attempts) {
        expect(['INVALID_HOSTNAME', 'INVALID_INPUT']).toContain(await codeOf(attempt));
      }
      // The store refuses the same rules when they are handed to it directly.
      const { rules, version } = await store.read();
      const direct: IngressRule[] = [
        { hostname: value, service: 'http://web:80', managed: { owner: 'alpha', instance: ME } },
        { hostname: 'ok.example.com', service: value, managed: { owner: 'alpha', instance: ME } },
        { hostname: 'ok.example.com', service: 'http://web:80', managed: { owner: value } },
      ];
      for (const rule of direct) {
        expect(['INVALID_HOSTNAME', 'INVALID_INPUT', 'INGRESS_INVALID']).toContain(
          await codeOf(store.write(beforeCatchAll(rules, rule), version)),
        );
      }
      expect(readFileSync(path, 'utf8')).toBe(HAND_WRITTEN_CONFIG);
      expect(existsSync(backupDir)).toBe(false);
    },
  );

  it('writes a hand-made rule whose path needs quoting so that it reads back as the same string', async () => {
    const { path, store } = setup();
    const { rules, version } = await store.read();
    const paths = [
      '^/a: b',
      '^/#frag',
      '^/{x}',
      '^/"q"',
      "^/'s'",
      '^/- item',
      '^/münchen',
      '^/&anchor *alias',
      '^/ trailing ',
    ];
    const added = paths.map((p, i): IngressRule => ({ hostname: `p${i}.example.com`, path: p, service: 'http://h:1' }));
    await store.write([...added, ...rules], version);
    const text = readFileSync(path, 'utf8');
    const reread = parseConfigFile(text);
    expect(reread.errors).toEqual([]);
    expect(reread.rules).toEqual([...added, ...rules]);
    // Structure intact: the same top-level keys, the hand-written rules untouched.
    expect(Object.keys(parse(text))).toEqual(Object.keys(parse(HAND_WRITTEN_CONFIG)));
    expect(text).toContain(HAND_WRITTEN_CONFIG.slice(HAND_WRITTEN_CONFIG.indexOf('  # the company site')));
  });

  it('refuses control characters in a hand-made rule too (nothing legitimate needs them)', async () => {
    const { path, store } = setup();
    const { rules, version } = await store.read();
    const code = await codeOf(
      store.write([{ hostname: 'x.example.com', path: '^/a\nb', service: 'http://h:1' }, ...rules], version),
    );
    expect(code).toBe('INVALID_INPUT');
    expect(readFileSync(path, 'utf8')).toBe(HAND_WRITTEN_CONFIG);
  });
});
