import type { Actor } from '../domain/actor.js';
import type { ContainerInfo } from '../domain/topology.js';
import { TunnelError } from '../errors.js';

/** The label that says which project a container belongs to (`tunnel.project=<project>`). */
export const PROJECT_LABEL = 'tunnel.project';

export interface ContainerOwnershipOptions {
  /** `docker.ownershipGuard`. When false every actor may target every container. @default false */
  readonly enabled: boolean;
}

/** Whether `actor` may publish `container`: admins always; projects only their labelled ones. */
export function mayTargetContainer(
  actor: Actor,
  container: Pick<ContainerInfo, 'labels'>,
  options: ContainerOwnershipOptions,
): boolean {
  if (!options.enabled || actor.kind === 'admin') return true;
  return container.labels[PROJECT_LABEL] === actor.project;
}

/**
 * The container ownership guard. With `docker.ownershipGuard` on, a project may only target
 * containers labelled `tunnel.project=<project>`; an admin may target any. It guards containers
 * only: a host port has no owner the manager could check.
 *
 * @throws TunnelError `NOT_OWNER` when the actor may not target the container.
 */
export function assertMayTargetContainer(
  actor: Actor,
  container: Pick<ContainerInfo, 'name' | 'labels'>,
  options: ContainerOwnershipOptions,
): void {
  if (mayTargetContainer(actor, container, options) || actor.kind === 'admin') return;
  throw new TunnelError(
    'NOT_OWNER',
    `Container ${container.name} is not labelled ${PROJECT_LABEL}=${actor.project}, so project ${actor.project} may not publish it.`,
    {
      hint: `Recreate the container with --label ${PROJECT_LABEL}=${actor.project} (Docker cannot relabel an existing container), or ask an admin to publish it.`,
      details: { container: container.name, label: PROJECT_LABEL },
    },
  );
}
