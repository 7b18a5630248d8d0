import { describe, expect, it } from 'vitest';
import { JsonLogger, redactSecrets, Secret } from '../src/index.js';

describe('logging', () => {
  it('writes one JSON object per line with bindings and redacts secrets', () => {
    const lines: string[] = [];
    const logger = new JsonLogger({ level: 'info', write: (l) => lines.push(l), now: () => 0 }).child({
      component: 'test',
    });
    logger.debug('hidden');
    logger.info('request', {
      apiToken: 'abc123',
      headers: { Authorization: 'Bearer abc123' },
      secret: new Secret('abc123'),
      port: 8080,
    });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? '{}');
    expect(entry).toMatchObject({
      level: 'info',
      msg: 'request',
      component: 'test',
      port: 8080,
      apiToken: '[redacted]',
    });
    expect(lines[0]).not.toContain('abc123');
  });

  it('never throws, even on cyclic input', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const logger = new JsonLogger({ write: () => undefined });
    expect(() => logger.error('cyclic', cyclic)).not.toThrow();
    expect(redactSecrets({ a: { password: 'x' } })).toEqual({ a: { password: '[redacted]' } });
  });
});
