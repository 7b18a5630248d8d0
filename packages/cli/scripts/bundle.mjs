// Bundles the built `tunnel` executable (dist/bin/tunnel.js, from `tsc -b`) into bundle/.
//
// Why: on Node 20 start-up is dominated by resolving and loading modules one file at a time
// (core, yaml and zod alone are ~150 files); one bundle roughly halves `tunnel status` (see
// `pnpm bench cli`). The dynamic imports stay dynamic, as chunks, so `tunnel --help` still
// loads neither core nor a provider SDK.
//
// Left out of the bundle, and so dependencies of @tunnel/cli itself: native code
// (better-sqlite3), packages that find files or workers next to their own sources (pino,
// dockerode with ssh2's optional native parts).
//
// The Cloudflare SDK is bundled, into its own lazily imported chunk: as ~1,900 separate .mjs
// files it cost every command that touches the API (`cname add --dry-run` included) 0.7–1.0 s of
// resolving and loading module by module; as one chunk it is one read and one compile
// (see `addDryRunMs` in `pnpm bench cli`). `tunnel --help` and database-only commands still never
// load it. `cloudflare` stays a dependency of @tunnel/cli for the provider package and its types.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const outDir = `${packageDir}bundle`;
export const EXTERNAL = ['better-sqlite3', 'pino', 'dockerode'];

rmSync(outDir, { recursive: true, force: true });
await build({
  input: { tunnel: `${packageDir}dist/bin/tunnel.js` },
  platform: 'node',
  external: (id) => id.startsWith('node:') || EXTERNAL.some((name) => id === name || id.startsWith(`${name}/`)),
  logLevel: 'warn',
  output: {
    dir: outDir,
    format: 'esm',
    entryFileNames: '[name].js',
    // Comments and whitespace out (the SDK chunk shrinks from 2.3 to 1.0 MB: less to read, decode
    // and parse at every start); names are kept, so a stack trace still names its functions.
    minify: { mangle: false, compress: false, codegen: { removeWhitespace: true } },
    // Next to the entry, not in a subdirectory: program.ts reads `../package.json` relative to
    // its own file, which must stay one level below the package root.
    chunkFileNames: '[name]-[hash].js',
  },
});
