import { readFile } from 'node:fs/promises';
import type { HostListener } from '@tunnel/core';

/** `st` of a listening socket in /proc/net/tcp{,6}. */
const TCP_LISTEN = '0A';

/** /proc/net/tcp writes an IPv4 address as 8 hex digits of a little-endian 32-bit word. */
function ipv4(hex: string): string {
  const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return bytes.reverse().join('.');
}

/** /proc/net/tcp6 writes an IPv6 address as four little-endian 32-bit words. */
function ipv6(hex: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.every((b) => b === 0)) return '::';
  if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return '::1';
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

/** The listening sockets of one /proc/net/tcp{,6} table. */
export function parseProcNetTcp(text: string, family: 4 | 6): HostListener[] {
  const out: HostListener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, , state] = [fields[1], fields[2], fields[3]];
    if (!local || state !== TCP_LISTEN) continue;
    const [addr = '', portHex = ''] = local.split(':');
    const port = Number.parseInt(portHex, 16);
    if (!Number.isInteger(port) || port <= 0) continue;
    out.push({ address: family === 4 ? ipv4(addr) : ipv6(addr), port });
  }
  return out;
}

/**
 * The TCP ports listening in this process's network namespace — the host's, where the manager
 * runs on the host, as it does beside a systemd or child cloudflared. Null when the tables cannot
 * be read (no /proc, another OS): unknown, never "nothing listens".
 */
export async function readHostListeners(procRoot: string): Promise<HostListener[] | null> {
  const read = (file: string) => readFile(`${procRoot}/net/${file}`, 'utf8').catch(() => null);
  const [v4, v6] = await Promise.all([read('tcp'), read('tcp6')]);
  if (v4 === null && v6 === null) return null;
  const seen = new Set<string>();
  return [...parseProcNetTcp(v4 ?? '', 4), ...parseProcNetTcp(v6 ?? '', 6)].filter((l) => {
    const key = `${l.address}|${l.port}`;
    return !seen.has(key) && seen.add(key) !== undefined;
  });
}
