/**
 * @tunnel/testkit — what tests, benchmarks and the sandbox run against: in-memory
 * implementations of every port, a manual clock, and (see the other issues) the Cloudflare API
 * emulator and the simulated cloudflared. The conformance suites are in
 * `@tunnel/testkit/conformance` (they import vitest).
 */
export { ManualClock } from './manual-clock.js';
export { InMemoryDnsProvider, type SeedRecord } from './memory/in-memory-dns-provider.js';
export { InMemoryIngressStore } from './memory/in-memory-ingress-store.js';
export {
  InMemoryProcessController,
  type InMemoryProcessControllerOptions,
} from './memory/in-memory-process-controller.js';
export { emptyTopologySnapshot, InMemoryTopology } from './memory/in-memory-topology.js';

// --- Cloudflare API emulator ---

// --- simulated cloudflared ---
