import { TunnelError } from '../errors.js';

/** Project names: what a route's owner is called, in DNS marks, ingress comments and tokens. */
export const PROJECT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The owner recorded for routes an admin creates without naming a project. It cannot collide
 * with a project: project names never start with "@".
 */
export const ADMIN_OWNER = '@admin';

/** Validates a project name, or throws `INVALID_INPUT` with the rule. */
export function parseProjectName(input: unknown): string {
  if (typeof input !== 'string' || !PROJECT_NAME_PATTERN.test(input)) {
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 80)) : `a ${typeof input}`;
    throw new TunnelError('INVALID_INPUT', `Invalid project name ${shown}.`, {
      hint: 'A project name is 1–63 characters of a–z, 0–9 and "-", starting with a letter or digit.',
    });
  }
  return input;
}

/** Who is asking. Front-ends authenticate; core trusts the actor it is given. */
export type Actor =
  | {
      readonly kind: 'project';
      readonly project: string;
      /**
       * The front-end acting for the project without its agent (e.g. `docker-labels`): the
       * project's rights and quota apply, and the audit log names this as the actor.
       */
      readonly via?: string;
    }
  | { readonly kind: 'admin' };

/** Names of front-ends that act for a project (`Actor.project(name, via)`). */
export const ACTOR_VIA_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

export const Actor = {
  /** A project's agent; the name is validated. */
  project(name: string, via?: string): Actor {
    if (via !== undefined && !ACTOR_VIA_PATTERN.test(via)) {
      throw new TunnelError('INVALID_INPUT', `Invalid actor front-end ${JSON.stringify(String(via).slice(0, 40))}.`, {
        hint: 'A front-end name is 1–32 characters of a–z, 0–9 and "-", starting with a letter.',
      });
    }
    const project = parseProjectName(name);
    return via === undefined ? { kind: 'project', project } : { kind: 'project', project, via };
  },
  /** The operator or meta-supervisor: may act on every route. */
  admin(): Actor {
    return { kind: 'admin' };
  },
  /** A stable string for audit and logs: `project:<name>`, `admin`, or the front-end (`docker-labels`). */
  describe(actor: Actor): string {
    return actor.kind === 'admin' ? 'admin' : (actor.via ?? `project:${actor.project}`);
  },
  /** The owner string routes created by this actor get. */
  owner(actor: Actor): string {
    return actor.kind === 'admin' ? ADMIN_OWNER : actor.project;
  },
  /** Whether the actor may change a route owned by `owner`. */
  mayActOn(actor: Actor, owner: string): boolean {
    return actor.kind === 'admin' || actor.project === owner;
  },
  /** Parses `project:<name>` / `admin` back into an Actor (audit, tokens). */
  parse(text: string): Actor {
    if (text === 'admin') return Actor.admin();
    if (text.startsWith('project:')) return Actor.project(text.slice('project:'.length));
    throw new TunnelError('INVALID_INPUT', `Invalid actor ${JSON.stringify(text.slice(0, 80))}.`, {
      hint: 'An actor is "admin" or "project:<name>".',
    });
  },
} as const;
