import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configKeys, loadConfig, parseConfig } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { configReference, renderConfigReference, renderConfigTemplate } from '../src/index.js';
import { cleanTempDirs, runInProcess, tempDir } from './support/io.js';

afterEach(cleanTempDirs);

/**
 * Uncomments the key lines (`# name: value`, at the indentation of the key's depth) that carry a
 * value, and the section and group lines above them; keys without a default (and sections with
 * only such keys) stay commented.
 */
function uncommentDefaults(template: string): string {
  const names = new Map<string, Set<number>>();
  for (const key of configKeys()) {
    key.path.forEach((name, depth) => {
      const depths = names.get(name) ?? new Set<number>();
      depths.add(depth);
      names.set(name, depths);
    });
  }
  return template
    .split('\n')
    .map((line) => {
      const m = /^(\s*)# ([A-Za-z]+):( \S.*)?$/.exec(line);
      if (!m) return line;
      const depth = (m[1] as string).length / 2;
      if (!names.get(m[2] as string)?.has(depth)) return line;
      // A section or group line, when some key below it has a default (`instance:` has none).
      const isGroup =
        m[3] === undefined &&
        configReference()
          .flatMap((section) => section.keys)
          .some((k) => k.path[depth] === m[2] && k.path.length > depth + 1 && k.hasDefault);
      return m[3] !== undefined || isGroup ? `${m[1]}${m[2]}:${m[3] ?? ''}` : line;
    })
    .join('\n');
}

describe('tunnel init', () => {
  it('writes a file that, as written, configures exactly the defaults', () => {
    const dir = tempDir();
    const file = join(dir, 'config.yml');
    writeFileSync(file, renderConfigTemplate());
    expect(loadConfig({ file, env: {} })).toEqual(parseConfig({}));
  });

  it('shows each default at its key: uncommented, every key with a default gives the same configuration', () => {
    const dir = tempDir();
    const file = join(dir, 'config.yml');
    const uncommented = uncommentDefaults(renderConfigTemplate());
    writeFileSync(file, uncommented);
    const loaded = loadConfig({ file, env: {} });
    expect(loaded).toEqual(parseConfig({}));
    // And really every key with a default is set by the file (none left to the schema).
    const active = new Set(
      uncommented
        .split('\n')
        .filter((l) => /^\s*[A-Za-z]+: \S/.test(l))
        .map((l) => l.trim().split(':')[0]),
    );
    for (const key of configReference().flatMap((s) => s.keys)) {
      if (key.hasDefault) expect(active, key.key).toContain(key.path[key.path.length - 1]);
    }
  });

  it('documents every configuration key with its environment variable', () => {
    const template = renderConfigTemplate();
    for (const key of configKeys()) {
      expect(template, key.path.join('.')).toContain(`env ${key.env})`);
    }
  });

  it('prints to stdout without a file, writes a file with one, and never overwrites without --force', async () => {
    const printed = await runInProcess(['init']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(renderConfigTemplate());
    const dir = tempDir();
    const file = join(dir, 'etc', 'config.yml');
    const written = await runInProcess(['init', file]);
    expect(written.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(renderConfigTemplate());
    writeFileSync(file, 'dataDir: /srv/mine\n');
    const refused = await runInProcess(['init', file]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/already exists; it was not changed.*\[INVALID_INPUT\]/);
    expect(readFileSync(file, 'utf8')).toBe('dataDir: /srv/mine\n');
    const forced = await runInProcess(['init', file, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(renderConfigTemplate());
  });
});

describe('docs/configuration.md', () => {
  it('is the reference generated from the schema (run `pnpm run docs` after changing the schema)', () => {
    const onDisk = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderConfigReference());
  });

  it('has a row for every key', () => {
    const doc = renderConfigReference();
    for (const key of configKeys()) expect(doc).toContain(`| \`${key.path.join('.')}\` |`);
  });
});
