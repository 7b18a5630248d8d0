/**
 * @tunnel/testkit/conformance — one suite per port. Each takes a factory and registers vitest
 * tests; every implementation of the port runs the same suite. Imports vitest: test code only.
 */
export {
  type ConformanceOptions,
  type DnsProviderHarness,
  describeDnsProviderConformance,
} from './dns-provider.js';
export {
  describeIngressStoreConformance,
  INGRESS_CONFORMANCE_RULES,
  type IngressStoreHarness,
} from './ingress-store.js';
export {
  describeProcessControllerConformance,
  type ProcessControllerHarness,
} from './process-controller.js';
export {
  describeStateStoreConformance,
  newRouteFixture,
  type StateStoreHarness,
} from './state-store.js';
export { describeTopologyConformance, type TopologyHarness } from './topology.js';
