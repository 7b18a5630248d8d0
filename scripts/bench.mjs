// `pnpm bench <name>` runs bench/dist/<name>.js (built by `tsc -b` first) and passes its output
// through. Every benchmark prints its figures and, as its last line, one JSON object.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const name = process.argv[2];
const dir = new URL('../bench/dist/', import.meta.url);
const available = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.js') && !['index.js', 'lib.js'].includes(f))
      .map((f) => f.slice(0, -3))
  : [];
if (!name || !available.includes(name)) {
  console.error(`usage: pnpm bench <name>   (available: ${available.join(', ') || 'none; run pnpm build'})`);
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  ['--expose-gc', new URL(`${name}.js`, dir).pathname, ...process.argv.slice(3)],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
