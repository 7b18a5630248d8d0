#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type CloudflareEmulatorOptions,
  defaultEmulatorSeed,
  type EmulatorSeed,
  startCloudflareEmulator,
} from '../cloudflare-emulator/index.js';

const USAGE = `Usage: cloudflare-emulator [options]

Serves an emulated Cloudflare API v4 at http://<host>:<port>/client/v4 until SIGINT/SIGTERM.
Prints one JSON line on stdout once listening: {"url", "origin", "port", "statePath", "tokens"}.

Options:
  --host <addr>            Address to bind (default 127.0.0.1)
  --port <n>               Port (default 0: any free port)
  --state <file>           Persist state to this JSON file; loaded at start when it exists
  --seed <file>            JSON EmulatorSeed planted at start (ignored when --state exists)
  --token <value>          Token of the default seed (default emulator-token)
  --batch-limit <n>        Changes per dns_records/batch call (default 200)
  --rate-limit <n>/<sec>   Turn the rate limiter on, e.g. 1200/300 (default off)
  -h, --help               Show this help

Without --seed and without an existing --state file, the default seed is planted: one account,
the zone example.com, one remotely-configured tunnel with two connectors, and one token with
every permission.`;

function fail(message: string): never {
  process.stderr.write(`cloudflare-emulator: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return value;
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        state: { type: 'string' },
        seed: { type: 'string' },
        token: { type: 'string' },
        'batch-limit': { type: 'string' },
        'rate-limit': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  }
  try {
    parsed = parse();
  } catch (error) {
    fail((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let seed: EmulatorSeed | undefined;
  if (values.seed) {
    try {
      seed = JSON.parse(readFileSync(values.seed, 'utf8')) as EmulatorSeed;
    } catch (error) {
      fail(`cannot read the seed ${values.seed}: ${(error as Error).message}`);
    }
  } else if (!values.state || !existsSync(values.state)) {
    seed = defaultEmulatorSeed(values.token);
  }
  let rateLimit: CloudflareEmulatorOptions['rateLimit'] = false;
  if (values['rate-limit']) {
    const match = /^(\d+)\/(\d+)$/.exec(values['rate-limit']);
    if (!match) fail(`--rate-limit must look like 1200/300 (requests/seconds), got ${values['rate-limit']}`);
    rateLimit = { requests: Number(match[1]), windowMs: Number(match[2]) * 1000 };
  }
  const emulator = await startCloudflareEmulator({
    host: values.host ?? '127.0.0.1',
    port: values.port === undefined ? 0 : positiveInt('--port', values.port),
    ...(seed ? { seed } : {}),
    ...(values.state ? { statePath: values.state } : {}),
    ...(values['batch-limit'] ? { batchLimit: positiveInt('--batch-limit', values['batch-limit']) } : {}),
    rateLimit,
  });
  process.stdout.write(
    `${JSON.stringify({
      url: emulator.url,
      origin: emulator.origin,
      port: emulator.port,
      statePath: values.state ?? null,
      tokens: emulator.data.tokens.map((t) => ({ name: t.name, value: t.value, permissions: t.permissions })),
    })}\n`,
  );
  process.stderr.write(`Cloudflare API emulator listening at ${emulator.url}\n`);
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`cloudflare-emulator: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
