// Until `tunnel sandbox` lands (issue 9), `pnpm start` runs what exists: it builds the manager's
// container from a config in a temporary data directory, opens and migrates the state store,
// and prints what it found. No Cloudflare account or network is needed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTunnelManagerContainer,
  LATEST_SCHEMA_VERSION,
  loadConfig,
  resolvePort,
} from '../packages/core/dist/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'tunnel-manager-'));
const config = loadConfig({ env: {}, overrides: { dataDir } });
const container = createTunnelManagerContainer(config);
const store = resolvePort(container, 'StateStore');
console.log(`Tunnel Manager (foundation): state database ${config.database.path} at schema v${LATEST_SCHEMA_VERSION}`);
console.log('routes by state:', await store.routes.countByState());
await store.close();
