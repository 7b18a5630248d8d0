import {
  describeDnsProviderConformance,
  describeIngressStoreConformance,
  describeProcessControllerConformance,
  describeTopologyConformance,
  INGRESS_CONFORMANCE_RULES,
} from '@tunnel/testkit/conformance';
import {
  emptyTopologySnapshot,
  InMemoryDnsProvider,
  InMemoryIngressStore,
  InMemoryProcessController,
  InMemoryTopology,
} from '../src/index.js';

describeDnsProviderConformance('InMemoryDnsProvider', async () => {
  const provider = new InMemoryDnsProvider([{ id: 'z1', name: 'example.com', status: 'active', accountId: 'acc' }]);
  return {
    provider,
    zone: { id: 'z1', name: 'example.com' },
    seedForeignRecord: async (r) => void provider.seedRecord('z1', r),
  };
});

describeIngressStoreConformance('InMemoryIngressStore', async () => ({
  store: new InMemoryIngressStore(INGRESS_CONFORMANCE_RULES),
}));

describeProcessControllerConformance('InMemoryProcessController', async () => {
  const controller = new InMemoryProcessController();
  return { controller, kill: async () => controller.kill() };
});

describeProcessControllerConformance('InMemoryProcessController (2 replicas)', async () => {
  const controller = new InMemoryProcessController({ replicas: 2 });
  return { controller, kill: async () => controller.kill() };
});

describeProcessControllerConformance('InMemoryProcessController (cannot restart)', async () => ({
  controller: new InMemoryProcessController({
    capabilities: { canRestart: false, canStartStop: false, reasons: { canRestart: 'monitor only' } },
  }),
}));

describeTopologyConformance('InMemoryTopology', async () => {
  const snapshot = emptyTopologySnapshot(1);
  return {
    topology: new InMemoryTopology({
      ...snapshot,
      networks: [
        { id: 'n1', name: 'apps', driver: 'bridge', internal: false, gateway: '172.20.0.1', subnet: '172.20.0.0/16' },
      ],
      containers: [
        {
          id: 'c1',
          name: 'web',
          image: 'nginx',
          command: 'nginx',
          state: 'running',
          labels: {},
          networkMode: 'apps',
          extraHosts: [],
          networks: [
            { networkId: 'n1', networkName: 'apps', ipAddress: '172.20.0.2', gateway: '172.20.0.1', aliases: ['web'] },
          ],
          ports: [{ containerPort: 80, protocol: 'tcp', exposed: true, published: [] }],
        },
      ],
    }),
    expected: { containerName: 'web', networkName: 'apps', alias: 'web', containerPort: 80, running: true },
  };
});
