import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { isTunnelError, MutationLock } from '../../src/index.js';

const fixture = new URL('./fixtures/lock-holder.mjs', import.meta.url).pathname;
const dirs: string[] = [];
const children: ResultPromise[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tm-lock-'));
  dirs.push(dir);
  return dir;
}

/** Starts a process that takes the lock and holds it; resolves once it holds it (the child is wrapped: it is thenable). */
async function holder(dataDir: string, staleMs: number): Promise<{ child: ResultPromise }> {
  const child = execa(process.execPath, [fixture, dataDir, String(staleMs)], { reject: false, stdin: 'ignore' });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('the holder never took the lock')), 60_000);
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('HELD')) {
        clearTimeout(deadline);
        resolve();
      }
    });
    void child.then((r) => reject(new Error(`the holder exited: ${r.stderr}`)));
  });
  return { child };
}

describe('MutationLock', () => {
  it('serializes critical sections across instances (as across processes) and in one', async () => {
    const dataDir = tempDir();
    const locks = [0, 1, 2].map(() => new MutationLock({ dataDir, staleMs: 5_000, timeoutMs: 60_000 }));
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (locks[i % 3] as MutationLock).run(async () => {
          inside += 1;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 5));
          order.push(i);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(order).toHaveLength(12);
    // Within one instance, callers go in the order they came.
    for (const lane of [0, 1, 2]) {
      const mine = order.filter((i) => i % 3 === lane);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(existsSync(join(dataDir, 'mutation.lock'))).toBe(false);
  });

  it('releases the lock when the critical section throws', async () => {
    const dataDir = tempDir();
    const lock = new MutationLock({ dataDir, staleMs: 5_000, timeoutMs: 2_000 });
    await expect(lock.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run(async () => 'again')).toBe('again');
  });

  it('gives up with LOCK_TIMEOUT while another process holds it', async () => {
    const dataDir = tempDir();
    await holder(dataDir, 10_000);
    const lock = new MutationLock({ dataDir, staleMs: 10_000, timeoutMs: 300 });
    let ran = false;
    const error = await lock
      .run(async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(isTunnelError(error, 'LOCK_TIMEOUT')).toBe(true);
    expect((error as { hint: string }).hint).toContain('stale');
    expect(ran).toBe(false);
  }, 90_000);

  it('takes over the lock of a holder that died', async () => {
    const dataDir = tempDir();
    const { child } = await holder(dataDir, 2_000);
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    expect(existsSync(join(dataDir, 'mutation.lock'))).toBe(true);
    const lock = new MutationLock({ dataDir, staleMs: 2_000, timeoutMs: 60_000 });
    expect(await lock.run(async () => 'taken over')).toBe('taken over');
  }, 90_000);

  it('tells the holder, through assertHeld, that it lost the lock', async () => {
    const dataDir = tempDir();
    const lock = new MutationLock({ dataDir, staleMs: 2_000, timeoutMs: 10_000 });
    const lost = await lock.run(async (guard) => {
      guard.assertHeld();
      // Someone removes the lock under us (as a takeover after a long stall would).
      rmSync(join(dataDir, 'mutation.lock'), { recursive: true, force: true });
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        try {
          guard.assertHeld();
        } catch (error) {
          return error;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    });
    expect(isTunnelError(lost, 'LOCK_TIMEOUT')).toBe(true);
  }, 60_000);
});
