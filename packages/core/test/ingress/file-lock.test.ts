import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockSync } from 'proper-lockfile';
import { afterEach, describe, expect, it } from 'vitest';
import { tryLockFile } from '../../src/ingress/file-lock.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function target(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tm-file-lock-'));
  dirs.push(dir);
  const path = join(dir, 'config.yml');
  writeFileSync(path, 'ingress: []\n');
  return path;
}
const lost = () => new Error('lost');
const longAgo = new Date(Date.now() - 60_000);

describe('tryLockFile', () => {
  it('excludes a second holder until released, and leaves nothing behind', () => {
    const path = target();
    const first = tryLockFile(path, 10_000, lost);
    expect(first).not.toBeNull();
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    expect(tryLockFile(path, 10_000, lost)).toBeNull();
    first?.assertHeld();
    first?.release();
    expect(existsSync(`${path}.lock`)).toBe(false);
    const second = tryLockFile(path, 10_000, lost);
    expect(second).not.toBeNull();
    second?.release();
  });

  it('and proper-lockfile exclude each other on the same path', () => {
    const path = target();
    const release = lockSync(path, { realpath: false, stale: 10_000 });
    expect(tryLockFile(path, 10_000, lost)).toBeNull();
    release();
    const mine = tryLockFile(path, 10_000, lost);
    expect(mine).not.toBeNull();
    expect(() => lockSync(path, { realpath: false, stale: 10_000 })).toThrow(/already being held/);
    mine?.release();
  });

  it('takes over a stale lock (a file, or proper-lockfile directory), and the old holder finds out', () => {
    const path = target();
    const old = tryLockFile(path, 10_000, lost);
    utimesSync(`${path}.lock`, longAgo, longAgo);
    const next = tryLockFile(path, 10_000, lost);
    expect(next).not.toBeNull();
    expect(() => old?.assertHeld()).toThrow('lost');
    old?.release(); // must not remove the new holder's lock
    expect(existsSync(`${path}.lock`)).toBe(true);
    next?.assertHeld();
    next?.release();

    mkdirSync(`${path}.lock`);
    utimesSync(`${path}.lock`, longAgo, longAgo);
    const afterDir = tryLockFile(path, 10_000, lost);
    expect(afterDir).not.toBeNull();
    afterDir?.release();
  });
});
