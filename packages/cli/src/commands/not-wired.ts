import { TunnelError } from '@tunnel/core';

/** A command whose core service has not landed in this build yet. */
export function notWired(command: string, needs: string): never {
  throw new TunnelError('INTERNAL', `\`tunnel ${command}\` is not wired in this build: it needs ${needs}.`, {
    hint: 'Update Tunnel Manager.',
  });
}
