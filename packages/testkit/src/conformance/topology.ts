import type { Topology, TopologySnapshot } from '@tunnel/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './dns-provider.js';

export interface TopologyHarness {
  readonly topology: Topology;
  /** A container the harness guarantees exists (omit for an implementation without Docker). */
  readonly expected?: {
    readonly containerName: string;
    readonly networkName: string;
    readonly alias?: string;
    readonly containerPort?: number;
    readonly running: boolean;
  };
  cleanup?(): Promise<void>;
}

const LOCATIONS = ['host', 'container', 'ambiguous', 'unknown'];

/** The Topology contract (see the port's duties). */
export function describeTopologyConformance(
  name: string,
  factory: () => Promise<TopologyHarness>,
  options: ConformanceOptions = {},
): void {
  if (options.skipReason) console.info(`[conformance] Topology ${name} skipped: ${options.skipReason}`);
  describe.skipIf(Boolean(options.skipReason))(`Topology conformance: ${name}`, () => {
    let h: TopologyHarness;
    let snap: TopologySnapshot;
    beforeAll(async () => {
      h = await factory();
      snap = await h.topology.snapshot({ maxAgeMs: 0 });
    });
    afterAll(async () => {
      await h.topology.close?.();
      await h.cleanup?.();
    });

    it('says whether Docker is available, and where cloudflared is', () => {
      expect(typeof snap.docker.available).toBe('boolean');
      if (!snap.docker.available) expect(snap.docker.reason.length).toBeGreaterThan(0);
      expect(LOCATIONS).toContain(snap.cloudflared.kind);
      expect(snap.takenAt).toBeGreaterThan(0);
    });

    it('names containers without a leading slash, once each', () => {
      const ids = snap.containers.map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const c of snap.containers) expect(c.name.startsWith('/')).toBe(false);
    });

    it('attaches containers only to networks it reports', () => {
      const networks = new Set(snap.networks.map((n) => n.name));
      for (const c of snap.containers) {
        for (const n of c.networks) expect(networks, `${c.name} on ${n.networkName}`).toContain(n.networkName);
      }
    });

    it('reports each port once, with valid numbers', () => {
      for (const c of snap.containers) {
        const keys = c.ports.map((p) => `${p.containerPort}/${p.protocol}`);
        expect(new Set(keys).size).toBe(keys.length);
        for (const p of c.ports) {
          expect(p.containerPort).toBeGreaterThan(0);
          expect(p.containerPort).toBeLessThan(65536);
          for (const b of p.published) expect(b.hostPort).toBeGreaterThan(0);
        }
      }
    });

    it('finds the expected container with its network, alias and port', () => {
      if (!h.expected) return;
      const e = h.expected;
      const c = snap.containers.find((x) => x.name === e.containerName);
      expect(c, `container ${e.containerName}`).toBeDefined();
      expect(c?.state === 'running').toBe(e.running);
      const net = c?.networks.find((n) => n.networkName === e.networkName);
      expect(net, `network ${e.networkName}`).toBeDefined();
      if (e.alias) expect(net?.aliases).toContain(e.alias);
      if (e.containerPort) expect(c?.ports.map((p) => p.containerPort)).toContain(e.containerPort);
    });

    it('gives a fresh snapshot when asked for maxAgeMs 0, and on refresh', async () => {
      const again = await h.topology.snapshot({ maxAgeMs: 0 });
      expect(again.takenAt).toBeGreaterThanOrEqual(snap.takenAt);
      const refreshed = await h.topology.refresh();
      expect(refreshed.takenAt).toBeGreaterThanOrEqual(again.takenAt);
    });
  });
}
