import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { replicaCheck } from '../src/commands/doctor-replicas.js';
import { cleanTempDirs, runInProcess, tempDir } from './support/io.js';

afterEach(cleanTempDirs);

describe('tunnel doctor: changes without outage', () => {
  it('warns about one replica in local mode, and is content with two (the default) or a remote ingress', () => {
    const one = replicaCheck(parseConfig({ cloudflared: { controller: 'child', child: { replicas: 1 } } }));
    expect(one.status).toBe('warn');
    expect(one.detail).toContain('short outage per change');
    expect(one.fix).toContain('cloudflared.child.replicas: 2');
    const byDefault = parseConfig({ cloudflared: { controller: 'child' } });
    expect(byDefault.cloudflared.child.replicas).toBe(2);
    expect(replicaCheck(byDefault).status).toBe('ok');
    expect(replicaCheck(parseConfig({ cloudflared: { controller: 'systemd' } })).status).toBe('warn');
    expect(
      replicaCheck(
        parseConfig({ ingress: { mode: 'remote' }, cloudflared: { controller: 'child', child: { replicas: 1 } } }),
      ).status,
    ).toBe('ok');
    expect(replicaCheck(parseConfig({ cloudflared: { controller: 'none' } })).status).toBe('skip');
  });

  it('shows the warning in `tunnel doctor --json` for a config file with one replica', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yml');
    writeFileSync(
      file,
      `dataDir: ${JSON.stringify(dir)}\ningress:\n  configPath: ${JSON.stringify(join(dir, 'cf.yml'))}\ncloudflared:\n  controller: child\n  child:\n    command: /nonexistent/cloudflared\n    replicas: 1\n`,
    );
    const { stdout } = await runInProcess(['doctor', '--json', '--config', file]);
    const { checks } = JSON.parse(stdout) as { checks: Array<{ id: string; status: string; fix: string | null }> };
    expect(checks.find((c) => c.id === 'cloudflared.replicas')).toMatchObject({ status: 'warn' });
  });
});
