/**
 * Issue 18's topologies, replayed from snapshots recorded on a real Docker engine (recorded/,
 * written by provider-docker's topologies.test.ts with RECORD_TOPOLOGY=1; there every target
 * below was also fetched from inside cloudflared's container). Each row is what the issue found
 * wrong, or a topology it asked to cover, and the answer the selector must now give.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Actor,
  type ErrorCode,
  isTunnelError,
  selectTarget,
  type TargetRoute,
  type TopologySnapshot,
} from '../../src/index.js';

interface Recording {
  readonly run: string;
  readonly facts: Record<string, string | number>;
  readonly snapshot: TopologySnapshot;
}

function recorded(name: string): Recording {
  return JSON.parse(readFileSync(new URL(`./recorded/${name}.json`, import.meta.url), 'utf8')) as Recording;
}

interface Row {
  readonly name: string;
  readonly recording: string;
  /** The container's suffix after the run id, or an alias as is (`=alias`). */
  readonly container?: string;
  /** A number, or the name of a recorded fact. */
  readonly port: number | string;
  readonly url?: string;
  readonly via?: TargetRoute;
  readonly reason?: RegExp;
  readonly code?: ErrorCode;
  readonly message?: RegExp;
  readonly hint?: RegExp;
}

// `{run}` and `{fact}` in the expectations are filled in from the recording.
const rows: Row[] = [
  {
    name: 'default bridge only: refused, naming the network to connect',
    recording: 'edge',
    container: 'bridged',
    port: 8080,
    code: 'TARGET_UNREACHABLE',
    message: /shares no user-defined network with container {run}-bridged/,
    hint: /docker network connect {run}-edge {run}-bridged/,
  },
  {
    name: 'default bridge, after the hint: by name',
    recording: 'default-bridge-fixed',
    container: 'bridged',
    port: 8080,
    url: 'http://{run}-bridged:8080',
    via: 'shared-network',
  },
  {
    name: 'two networks: the one shared with cloudflared',
    recording: 'edge',
    container: 'two-nets',
    port: 8080,
    url: 'http://{run}-two-nets:8080',
    reason: /network {run}-second/,
  },
  {
    name: 'container: mode, through the namespace owner',
    recording: 'edge',
    container: 'sidecar',
    port: 8080,
    url: 'http://{run}-ns-owner:8080',
    reason: /through container {run}-ns-owner/,
  },
  {
    name: '--network none: a hint that works (disconnect none first)',
    recording: 'edge',
    container: 'isolated',
    port: 8080,
    code: 'TARGET_UNREACHABLE',
    message: /runs with --network none/,
    hint: /^Run `docker network disconnect none {run}-isolated && docker network connect {run}-edge {run}-isolated`/,
  },
  {
    name: '--network none, after the hint (the engine still says NetworkMode none)',
    recording: 'none-fixed',
    container: 'isolated',
    port: 8080,
    url: 'http://{run}-isolated:8080',
  },
  {
    name: 'a just-created container: is created, retryable',
    recording: 'edge',
    container: 'created',
    port: 8080,
    code: 'TARGET_UNREACHABLE',
    message: /Container {run}-created is created/,
    hint: /docker start {run}-created/,
  },
  {
    name: 'the just-created container, started',
    recording: 'created-started',
    container: 'created',
    port: 8080,
    url: 'http://{run}-created:8080',
  },
  {
    name: 'an alias two containers carry, one on a network cloudflared is on: that one',
    recording: 'edge',
    container: '=shared',
    port: 8080,
    url: 'http://{run}-alias-here:8080',
  },
  {
    name: 'replicas behind one alias: the alias',
    recording: 'edge',
    container: '=replicated',
    port: 8080,
    url: 'http://replicated:8080',
    reason: /2 replicas answering to replicated \(2 running: {run}-replica-1, {run}-replica-2\)/,
  },
  {
    name: 'EXPOSE 9999, listening on 8140: accepted with the note',
    recording: 'edge',
    container: 'undeclared',
    port: 8140,
    url: 'http://{run}-undeclared:8140',
    reason: /it declares 9999\/tcp, not 8140: EXPOSE is only advisory/,
  },
  {
    name: 'host mode, listening on every address: the bridge gateway',
    recording: 'host-mode',
    container: 'hostnet',
    port: 'port',
    url: 'http://{gateway}:{port}',
    via: 'host-gateway',
    reason: /it listens on (0\.0\.0\.0|\[::\]):{port}/,
  },
  {
    name: 'a host service on 127.0.0.1 only, cloudflared in a container: refused',
    recording: 'host-loopback',
    port: 'port',
    code: 'TARGET_UNREACHABLE',
    message: /listens only on 127\.0\.0\.1:{port} \(loopback\)/,
    hint: /listen on 0\.0\.0\.0:{port}/,
  },
  {
    name: 'cloudflared on macvlan only: no route to the host (its gateway is a LAN router)',
    recording: 'macvlan',
    port: 3000,
    code: 'TARGET_UNREACHABLE',
    message: /no bridge network with a gateway/,
    hint: /--add-host host\.docker\.internal:host-gateway/,
  },
];

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('selectTarget over snapshots recorded on a real engine (issue 18)', () => {
  it.each(rows)('$name', (row) => {
    const rec = recorded(row.recording);
    const fill = (text: string, forRegex: boolean) =>
      text.replace(/\{(\w+)\}/g, (_, key: string) => {
        const value = key === 'run' ? rec.run : String(rec.facts[key]);
        return forRegex ? escapeRegex(value) : value;
      });
    const pattern = (r: RegExp) => new RegExp(fill(r.source.replace(/\\\{(\w+)\\\}/g, '{$1}'), true));
    const port = typeof row.port === 'number' ? row.port : Number(rec.facts[row.port]);
    const container =
      row.container === undefined
        ? null
        : row.container.startsWith('=')
          ? row.container.slice(1)
          : `${rec.run}-${row.container}`;
    const request = { actor: Actor.admin(), container, port };
    if (row.code) {
      let error: unknown;
      try {
        selectTarget(rec.snapshot, request);
      } catch (e) {
        error = e;
      }
      expect(isTunnelError(error, row.code), String(error)).toBe(true);
      const e = error as { message: string; hint: string };
      if (row.message) expect(e.message).toMatch(pattern(row.message));
      if (row.hint) expect(e.hint).toMatch(pattern(row.hint));
      return;
    }
    const target = selectTarget(rec.snapshot, request);
    if (row.url) expect(target.url).toBe(fill(row.url, false));
    if (row.via) expect(target.via).toBe(row.via);
    if (row.reason) expect(target.reason).toMatch(pattern(row.reason));
  });
});
