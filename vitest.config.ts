import { defaultServerConditions, defineConfig } from 'vite';

const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  // tsyringe resolves constructor parameters by their emitted design:paramtypes metadata; vite 8's
  // oxc transform emits it (vite 7's esbuild did not).
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  // Workspace packages resolve to their TypeScript sources in tests ("source" export condition);
  // spawned processes run the built dist/ instead.
  resolve: { conditions: ['source', ...defaultServerConditions] },
  ssr: { resolve: { conditions: ['source', ...defaultServerConditions] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
    setupFiles: ['./vitest.setup.ts'],
    // eventsource-parser (under the MCP SDK's HTTP client) also exports a "source" condition, to
    // its TypeScript; resolved with ours, Node cannot load it as an external, so vite transforms it.
    server: { deps: { inline: ['@modelcontextprotocol/sdk', 'eventsource-parser'] } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
