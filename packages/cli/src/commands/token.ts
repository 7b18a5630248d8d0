import { Actor, type ApiTokenRecord, ApiTokenService, resolvePort } from '@tunnel/core';
import { type CommandContext, UsageError } from '../context.js';
import { formatTime } from '../output.js';
import type { TokenCreateOptions } from '../program.js';
import { commandContainer, openStore } from './shared.js';

/** The token service over the configured database (no provider is loaded). */
async function tokenService(cx: CommandContext): Promise<ApiTokenService> {
  const { container } = await commandContainer(cx, 'none');
  return new ApiTokenService({ store: openStore(cx, container), clock: resolvePort(container, 'Clock') });
}

/** `tunnel token create --project P | --admin [--label L]`: prints the token once. */
export async function tokenCreate(cx: CommandContext, opts: TokenCreateOptions): Promise<number> {
  if ((opts.project === undefined) === (opts.admin !== true)) {
    throw new UsageError('give exactly one of --project <name> (a project agent) or --admin (every project).');
  }
  const actor = opts.admin ? Actor.admin() : Actor.project(opts.project as string);
  const created = await (await tokenService(cx)).create({ actor, label: opts.label });
  const { out } = cx;
  if (out.json) {
    out.data(created);
    return 0;
  }
  out.note(out.ok(`token ${created.record.id} for ${Actor.describe(actor)} — shown once; only its hash is stored:`));
  out.line(created.token);
  return 0;
}

const actorOf = (record: ApiTokenRecord) => Actor.describe(record.actor);

/** `tunnel token ls` (never the tokens themselves). */
export async function tokenList(cx: CommandContext): Promise<number> {
  const tokens = await (await tokenService(cx)).list();
  const { out } = cx;
  if (out.json) {
    out.data({ tokens });
    return 0;
  }
  if (tokens.length === 0) {
    out.line(out.c.dim('No tokens. Create one with `tunnel token create --project <name>`.'));
    return 0;
  }
  out.table(
    [
      { header: 'ID' },
      { header: 'ACTOR' },
      { header: 'LABEL' },
      { header: 'CREATED' },
      { header: 'LAST USED' },
      { header: 'STATE' },
    ],
    tokens.map((t) => [
      t.id,
      actorOf(t),
      t.label,
      formatTime(t.createdAt),
      formatTime(t.lastUsedAt),
      t.revokedAt === null ? out.c.green('live') : out.c.dim(`revoked ${formatTime(t.revokedAt)}`),
    ]),
  );
  return 0;
}

/** `tunnel token revoke <id>`: the token stops working at once. */
export async function tokenRevoke(cx: CommandContext, id: string): Promise<number> {
  const revoked = await (await tokenService(cx)).revoke(id);
  const { out } = cx;
  if (out.json) out.data({ revoked });
  else out.line(out.ok(`revoked ${revoked.id} (${actorOf(revoked)}${revoked.label ? `, ${revoked.label}` : ''})`));
  return 0;
}
