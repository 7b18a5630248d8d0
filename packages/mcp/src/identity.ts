import { Actor, TunnelError } from '@tunnel/core';

/** How a stdio server is told who it serves: flags first, then the environment. */
export interface StdioIdentityInput {
  /** `--project <name>` */
  readonly project?: string | undefined;
  /** `--admin` */
  readonly admin?: boolean | undefined;
  /** Reads `TUNNEL_PROJECT` and `TUNNEL_ADMIN` (`1`/`true`/`yes`). @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const USAGE_HINT =
  "Start it with `--project <name>` (or TUNNEL_PROJECT=<name>) for one project's agent, or with `--admin` (or TUNNEL_ADMIN=1) for the meta-supervisor.";

function refuse(message: string, hint = USAGE_HINT): TunnelError {
  return new TunnelError('INVALID_INPUT', message, { hint });
}

function envFlag(name: string, raw: string | undefined): boolean {
  if (raw === undefined || /^(|0|false|no)$/i.test(raw)) return false;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  throw refuse(
    `${name}=${JSON.stringify(raw.slice(0, 20))} is neither true nor false.`,
    `Set ${name}=1 or leave it unset.`,
  );
}

function actorFrom(source: string, project: string | undefined, admin: boolean): Actor {
  if (project !== undefined && admin) {
    throw refuse(`${source} names both a project and admin; a server serves exactly one of them.`);
  }
  if (admin) return Actor.admin();
  if (project === undefined) throw refuse('No identity: this MCP server does not know which project it serves.');
  try {
    return Actor.project(project);
  } catch (error) {
    const cause = error instanceof TunnelError ? error : undefined;
    throw new TunnelError('INVALID_INPUT', `${cause?.message ?? 'Invalid project name.'} (from ${source})`, {
      hint: cause?.hint ?? USAGE_HINT,
    });
  }
}

/**
 * The one Actor a stdio server acts as for its whole life. `--project`/`--admin` win over
 * `TUNNEL_PROJECT`/`TUNNEL_ADMIN`; naming none, both, or an invalid project throws
 * `INVALID_INPUT` with a hint — the server must not start then.
 */
export function resolveStdioActor(input: StdioIdentityInput): Actor {
  if (input.project !== undefined || input.admin) {
    return actorFrom('the command line', input.project, input.admin === true);
  }
  const env = input.env ?? process.env;
  const project = env.TUNNEL_PROJECT === '' ? undefined : env.TUNNEL_PROJECT;
  return actorFrom('the environment', project, envFlag('TUNNEL_ADMIN', env.TUNNEL_ADMIN));
}
