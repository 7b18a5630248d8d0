import { isTunnelError, type ProcessController, type ProcessStatus } from '@tunnel/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './dns-provider.js';

export interface ProcessControllerHarness {
  /** A controller whose process is running. */
  readonly controller: ProcessController;
  /** Kills the process behind the controller's back (SIGKILL), when the harness can. */
  kill?(): Promise<void>;
  cleanup?(): Promise<void>;
}

const STATES = ['running', 'starting', 'stopped', 'exited', 'unknown'];

/** Polls `status()` until `predicate` holds (real processes take a moment). */
async function waitForStatus(
  controller: ProcessController,
  predicate: (s: ProcessStatus) => boolean,
  timeoutMs = 10_000,
): Promise<ProcessStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await controller.status();
    if (predicate(status)) return status;
    if (Date.now() > deadline) throw new Error(`status did not settle: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The ProcessController contract (see the port's duties). */
export function describeProcessControllerConformance(
  name: string,
  factory: () => Promise<ProcessControllerHarness>,
  options: ConformanceOptions = {},
): void {
  if (options.skipReason) console.info(`[conformance] ProcessController ${name} skipped: ${options.skipReason}`);
  describe.skipIf(Boolean(options.skipReason))(`ProcessController conformance: ${name}`, () => {
    let h: ProcessControllerHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.cleanup?.();
    });

    it('declares every capability as a boolean', () => {
      const caps = h.controller.capabilities;
      for (const key of ['canRestart', 'restartReloadsConfig', 'supportsReplicas', 'canStartStop'] as const) {
        expect(typeof caps[key]).toBe('boolean');
      }
      expect(typeof h.controller.kind).toBe('string');
    });

    it('reports a running process with a known state', async () => {
      const status = await waitForStatus(h.controller, (s) => s.state === 'running');
      expect(STATES).toContain(status.state);
      if (h.controller.capabilities.supportsReplicas) expect(status.replicas?.length).toBeGreaterThan(0);
    });

    it('restarts into a new running process, or refuses with INVALID_INPUT if it cannot', async () => {
      const before = await waitForStatus(h.controller, (s) => s.state === 'running');
      if (!h.controller.capabilities.canRestart) {
        await expect(h.controller.restart({ graceful: true, reason: 'conformance' })).rejects.toSatisfy((e) =>
          isTunnelError(e, 'INVALID_INPUT'),
        );
        return;
      }
      await h.controller.restart({ graceful: true, reason: 'conformance' });
      const after = await waitForStatus(h.controller, (s) => s.state === 'running');
      if (before.pid !== null && after.pid !== null) expect(after.pid).not.toBe(before.pid);
    });

    it('two restarts at once still leave one running set of processes', async () => {
      if (!h.controller.capabilities.canRestart) return;
      const before = await waitForStatus(h.controller, (s) => s.state === 'running');
      await Promise.all([
        h.controller.restart({ graceful: true, reason: 'conformance a' }),
        h.controller.restart({ graceful: true, reason: 'conformance b' }),
      ]);
      const after = await waitForStatus(h.controller, (s) => s.state === 'running');
      expect(after.replicas?.length ?? 1).toBe(before.replicas?.length ?? 1);
    });

    it('sees a killed process as not running, and a restart brings it back', async () => {
      if (!h.kill || !h.controller.capabilities.canRestart) return;
      await waitForStatus(h.controller, (s) => s.state === 'running');
      await h.kill();
      const dead = await waitForStatus(h.controller, (s) => s.state !== 'running');
      expect(['exited', 'stopped', 'unknown']).toContain(dead.state);
      await h.controller.restart({ graceful: false, reason: 'conformance after kill' });
      await waitForStatus(h.controller, (s) => s.state === 'running');
    });

    it('stops and starts when it can, never starting a second copy', async () => {
      if (!h.controller.capabilities.canStartStop || !h.controller.stop || !h.controller.start) return;
      await h.controller.stop({ graceful: true });
      await waitForStatus(h.controller, (s) => s.state !== 'running');
      await h.controller.start();
      const first = await waitForStatus(h.controller, (s) => s.state === 'running');
      await h.controller.start();
      const second = await h.controller.status();
      expect(second.pid).toBe(first.pid);
    });
  });
}
