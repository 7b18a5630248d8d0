import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = new URL('../src/', import.meta.url).pathname;
const FORBIDDEN = [/^cloudflare(\/|$)/, /^dockerode(\/|$)/, /^@modelcontextprotocol\//, /^@tunnel\/(?!core)/];

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

describe('@tunnel/core boundaries', () => {
  it('imports no Cloudflare SDK, dockerode, MCP SDK or other @tunnel package', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(src)) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
        const spec = match[1] ?? '';
        if (FORBIDDEN.some((re) => re.test(spec))) offenders.push(`${file.slice(src.length)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('does not depend on them in package.json either', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies).filter((d) => FORBIDDEN.some((re) => re.test(d)))).toEqual([]);
  });

  it('exports names explicitly (no `export *`) from every package entry', () => {
    for (const pkg of ['core', 'testkit', 'provider-cloudflare', 'provider-docker', 'mcp', 'cli']) {
      const entry = readFileSync(new URL(`../../${pkg}/src/index.ts`, import.meta.url), 'utf8');
      expect(entry, pkg).not.toMatch(/export\s*\*/);
    }
  });
});
