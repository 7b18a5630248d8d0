import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderExitCodesMarkdown } from '../src/index.js';

const root = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

function block(text: string, name: string): string {
  const start = text.indexOf(`<!-- ${name}:start -->\n`);
  const end = text.indexOf(`<!-- ${name}:end -->`);
  expect(start, `README block ${name}`).toBeGreaterThanOrEqual(0);
  return text.slice(start + `<!-- ${name}:start -->\n`.length, end).trimEnd();
}

describe('README', () => {
  const readme = read('README.md');

  it('lists the exit codes the CLI uses (run `pnpm run docs` after changing them)', () => {
    expect(block(readme, 'exit-codes')).toBe(renderExitCodesMarkdown());
  });

  it('shows the systemd unit that ships in packages/cli/deploy', () => {
    const unit = read('packages/cli/deploy/tunnel-manager.service');
    expect(block(readme, 'systemd-unit')).toBe(`\`\`\`ini\n${unit.trimEnd()}\n\`\`\``);
    const execStart = /^ExecStart=\/usr\/bin\/node \/opt\/tunnel-manager\/(\S+) daemon$/m.exec(unit)?.[1];
    expect(execStart).toBe('packages/cli/bundle/tunnel.js');
    expect(existsSync(new URL(execStart as string, root))).toBe(true);
  });

  it('keeps its quick start true: `pnpm start` runs the sandbox, `pnpm tunnel` the built command', () => {
    expect(readme).toContain('bash scripts/bootstrap.sh && pnpm start');
    expect(readme).toContain('bash scripts/bootstrap.sh --test-services && pnpm test');
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toBe('pnpm build && node packages/cli/bundle/tunnel.js sandbox --data-dir .sandbox');
    expect(scripts.tunnel).toBe('node packages/cli/bundle/tunnel.js');
    expect(scripts.test).toBe('pnpm build && vitest run');
    expect(scripts.build).toBe('tsc -b && pnpm --filter @tunnel/cli bundle');
    expect(read('.gitignore')).toMatch(/^\.sandbox\/$/m);
  });

  it('links the documents it names', () => {
    for (const link of readme.matchAll(/\]\(((?:docs|packages)\/[^)#]+)\)/g)) {
      const path = link[1] as string;
      expect(existsSync(new URL(path, root)), path).toBe(true);
    }
  });
});
