import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalFileIngressStore } from '../../src/index.js';
import { beforeCatchAll, HAND_WRITTEN_CONFIG, managedRule, tempDirs, writeConfig } from './helpers.js';

const temp = tempDirs();
const children: { kill: (signal?: NodeJS.Signals) => boolean }[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  temp.cleanup();
});

const fixture = new URL('./fixtures/crash-writer.mjs', import.meta.url).pathname;

describe('LocalFileIngressStore crash safety', () => {
  it('a writer SIGKILLed between writing the temp file and the rename leaves the old file intact', async () => {
    const dir = temp.make();
    const path = writeConfig(dir);
    const backupDir = join(dir, 'backups');
    const child = execa(process.execPath, [fixture, path, backupDir], { reject: false, stdin: 'ignore' });
    children.push(child);
    const tempPath = await new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('the writer never reached the rename')), 60_000);
      let seen = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const m = /PAUSED (\S+)\n/.exec(seen);
        if (m?.[1]) {
          clearTimeout(deadline);
          resolve(m[1]);
        }
      });
      child.catch(reject);
    });
    // The new version is complete on disk under its temporary name…
    expect(readFileSync(tempPath, 'utf8')).toContain('crash.example.com');
    child.kill('SIGKILL');
    const result = await child;
    expect(result.signal).toBe('SIGKILL');

    // …and the configuration is the old one, byte for byte, and reads fine.
    expect(readFileSync(path, 'utf8')).toBe(HAND_WRITTEN_CONFIG);
    const store = new LocalFileIngressStore({ path, backupDir, lockStaleMs: 2_000 });
    const snapshot = await store.read();
    expect(snapshot.rules.some((r) => r.hostname === 'crash.example.com')).toBe(false);

    // The dead writer's lock goes stale; the next write lands and clears its temp file.
    expect(existsSync(tempPath)).toBe(true);
    const written = await store.write(beforeCatchAll(snapshot.rules, managedRule(1)), snapshot.version);
    expect(written.rules.filter((r) => r.managed)).toEqual([managedRule(1)]);
    expect(existsSync(tempPath)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await store.settled();
  }, 90_000);
});
