import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CONFIG_ENV_PREFIX, TunnelError } from '@tunnel/core';
import { renderConfigTemplate } from '../config-reference.js';
import type { CommandContext } from '../context.js';

/** `tunnel init [file]`: the commented configuration, on stdout or into a new file. */
export async function init(cx: CommandContext, file: string | undefined, opts: { force?: boolean }): Promise<number> {
  const text = renderConfigTemplate();
  const { out } = cx;
  if (!file) {
    if (out.json) out.data({ path: null, content: text });
    else cx.io.stdout(text);
    return 0;
  }
  const path = resolve(file);
  if (existsSync(path) && !opts.force) {
    throw new TunnelError('INVALID_INPUT', `${path} already exists; it was not changed.`, {
      hint: 'Pass --force to overwrite it, or write to another path.',
    });
  }
  mkdirSync(dirname(path), { recursive: true });
  // It may come to hold the API token: readable by its owner and group only.
  writeFileSync(path, text, { mode: 0o640 });
  if (out.json) out.data({ path, content: text });
  else {
    out.line(out.ok(`wrote ${path}; set the Cloudflare keys, then run \`tunnel doctor --config ${path}\``));
    // Said here because it is the one thing an operator used to cloudflared would guess wrong.
    out.line(
      `Any key can also be set as ${CONFIG_ENV_PREFIX}<SECTION>__<KEY> (e.g. ${CONFIG_ENV_PREFIX}HEALTH__INTERVAL_MS=10000); TUNNEL_* variables are cloudflared's and are ignored.`,
    );
  }
  return 0;
}
