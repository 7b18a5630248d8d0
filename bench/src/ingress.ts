// pnpm bench ingress — the local config.yml store at the size of a crowded VM: add then remove
// one managed rule in a config of 1,000 rules, 200 times, through IngressManager (the path the
// CNAME pipeline takes: lock, read, place, validate, splice, back up, atomic write with a
// directory fsync). Interleaved with them, a bare atomic write (temp file + fsync + rename) of
// the same bytes: the floor any safe writer pays. Target: ratioP50 (one add or remove ÷ one
// bare write, medians) ≤ 3.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { IngressManager, LocalFileIngressStore, NoopLogger, SystemClock } from '@tunnel/core';
import { percentile, report, round, scratchDir, timeEach } from './lib.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const RULES = 1_000;
const ROUNDS = 200;

const dir = scratchDir('ingress');
const path = join(dir, 'config.yml');
const lines = [
  '# cloudflared configuration (benchmark)',
  'tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef',
  'credentials-file: /etc/cloudflared/6ff42ae2-765d-4adf-8112-31c55c1551ef.json',
  'ingress:',
];
for (let i = 0; i < RULES - 1; i++) {
  if (i % 3 === 0) {
    lines.push(
      `  # hand-written rule ${i}`,
      `  - hostname: hand-${i}.example.com`,
      `    service: http://localhost:${3000 + (i % 5000)}`,
    );
  } else {
    lines.push(
      `  - hostname: app-${i}.example.com # tunnel-manager:project-${i % 50}`,
      `    service: http://web-${i}:${8000 + (i % 1000)}`,
    );
  }
}
lines.push('  - service: http_status:404', '');
writeFileSync(path, lines.join('\n'));

const store = new LocalFileIngressStore({ path, backupDir: join(dir, 'backups'), backups: 20 });
const manager = new IngressManager(store, new SystemClock(), new NoopLogger());
await manager.read(); // the first read parses the file; the figures are for the steady state

const bytes = readFileSync(path);
/** temp + fsync + rename of the config's bytes: no lock, no parse, no validation, no backup. */
function bareWrite(): void {
  const temp = join(dir, '.bare.tmp');
  const fd = openSync(temp, 'w', 0o644);
  writeSync(fd, bytes);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, join(dir, 'bare.yml'));
}

// Rounds interleave the two kinds of write so both see the same machine load, and every sample
// is taken the same way (timeEach: a fresh young generation before each).
const adds: number[] = [];
const removes: number[] = [];
const bare: number[] = [];
for (let i = -10; i < ROUNDS; i++) {
  const hostname = `bench-${i}.example.com`;
  let changed = true;
  const add = await timeEach(1, async () => {
    changed &&= (
      await manager.upsertManagedRule({ hostname, service: 'http://bench:8080', owner: 'bench', instance: ME })
    ).changed;
  });
  const bare1 = await timeEach(1, bareWrite);
  const remove = await timeEach(1, async () => {
    changed &&= (await manager.removeManagedRule(hostname, { instance: ME })).changed;
  });
  const bare2 = await timeEach(1, bareWrite);
  if (!changed) throw new Error('a mutation did not change the file');
  if (i >= 0) {
    adds.push(...add);
    removes.push(...remove);
    bare.push(...bare1, ...bare2);
  }
}
const finalRules = (await manager.read()).rules.length;
if (finalRules !== RULES) throw new Error(`expected ${RULES} rules at the end, found ${finalRules}`);
await store.settled();

const ops = [...adds, ...removes];
const pairs = adds.map((a, i) => a + (removes[i] ?? 0));
const addRemoveP50Ms = round(percentile(ops, 50), 3);
const addRemoveP99Ms = round(percentile(ops, 99), 3);
const bareWriteP50Ms = round(percentile(bare, 50), 3);
report(
  [
    `config: ${RULES} rules, ${bytes.length} bytes; ${ROUNDS} rounds of add + remove through IngressManager`,
    `add:    p50 ${round(percentile(adds, 50), 3)} ms, p99 ${round(percentile(adds, 99), 3)} ms`,
    `remove: p50 ${round(percentile(removes, 50), 3)} ms, p99 ${round(percentile(removes, 99), 3)} ms`,
    `one mutation (add or remove): p50 ${addRemoveP50Ms} ms, p99 ${addRemoveP99Ms} ms; add+remove pair p50 ${round(percentile(pairs, 50), 3)} ms`,
    `bare atomic write (temp + fsync + rename) of the same bytes: p50 ${bareWriteP50Ms} ms, p99 ${round(percentile(bare, 99), 3)} ms`,
    `ratio (mutation p50 / bare write p50): ${round(addRemoveP50Ms / bareWriteP50Ms, 2)} (target ≤ 3)`,
    `load average during the run: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (the ratio grows with CPU contention)`,
  ],
  {
    addRemoveP50Ms,
    addRemoveP99Ms,
    bareWriteP50Ms,
    ratioP50: round(addRemoveP50Ms / bareWriteP50Ms, 2),
  },
);
