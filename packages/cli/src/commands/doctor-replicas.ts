import type { TunnelConfig } from '@tunnel/core';
import type { DoctorCheck } from './doctor.js';

const ID = 'cloudflared.replicas';
const TITLE = 'changes without outage';

/**
 * Whether a config change can take the tunnel down. A local ingress is applied by restarting
 * cloudflared: with two replicas rolled one at a time one always serves; with a single
 * process every change is a short outage for every project's names — worth a warning, not a
 * failure (it works, but not the way the product promises).
 */
export function replicaCheck(config: TunnelConfig): DoctorCheck {
  const kind = config.cloudflared.controller;
  const result = (status: DoctorCheck['status'], detail: string, fix: string | null = null): DoctorCheck => ({
    id: ID,
    title: TITLE,
    status,
    detail,
    fix,
  });
  if (config.ingress.mode === 'remote')
    return result('ok', 'remote ingress: cloudflared applies changes live, no restart');
  if (kind === 'none') return result('skip', 'cloudflared.controller is none: the manager restarts nothing');
  if (kind === 'child') {
    const replicas = config.cloudflared.child.replicas;
    if (replicas >= 2)
      return result('ok', `${replicas} replicas, restarted one at a time: a change never takes the tunnel down`);
    return result(
      'warn',
      'one cloudflared replica: every config change restarts it, a short outage per change for every name on the tunnel',
      'Set cloudflared.child.replicas: 2 (the default) so changes roll over the replicas one at a time.',
    );
  }
  return result(
    'warn',
    `one cloudflared (${kind} controller): every config change restarts it, a short outage per change for every name on the tunnel`,
    'Use cloudflared.controller: child (two replicas by default), or ingress.mode: remote (changes need no restart).',
  );
}
